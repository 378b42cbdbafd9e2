package registry_test

import (
	"strings"
	"testing"

	"outpost/checks/registry"
)

func TestRegistry(t *testing.T) {
	r := registry.New[int]("kind")
	r.Add("tcp", 1)
	r.Add("dns", 2)
	if v, ok := r.Get("tcp"); !ok || v != 1 {
		t.Errorf("Get(tcp) = %d, %v", v, ok)
	}
	if _, ok := r.Get("telnet"); ok {
		t.Error("Get(telnet) found something")
	}
	if got := strings.Join(r.Names(), ","); got != "dns,tcp" {
		t.Errorf("Names() = %s", got)
	}
	if got := r.All(); len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Errorf("All() = %v", got)
	}
	if got, want := r.Unknown("telnet"), `unknown kind "telnet" (one of dns, tcp)`; got != want {
		t.Errorf("Unknown() = %s, want %s", got, want)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "kind registered twice: tcp") {
			t.Errorf("duplicate: %v", p)
		}
	}()
	r.Add("tcp", 3)
}
