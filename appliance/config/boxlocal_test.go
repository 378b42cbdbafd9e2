package config

import (
	"slices"
	"strings"
	"testing"
)

func TestKeepBoxLocal(t *testing.T) {
	running, err := Parse("/etc/outpost/site.yaml", []byte("site: Old\nlisten: 127.0.0.1:9470\nui: {listen: '192.0.2.10:8443'}\nchecks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	site := []byte("site: New\nui: {listen: ':9443'}\nchecks: []\n")
	out, kept, err := KeepBoxLocal(site, running)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("bundle", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !slices.Equal(kept, []string{"listen"}) || cfg.Listen != "127.0.0.1:9470" || cfg.UI.Listen != ":9443" || cfg.Site != "New" {
		t.Fatalf("kept %v: listen %q ui %q site %q\n%s", kept, cfg.Listen, cfg.UI.Listen, cfg.Site, out)
	}
	// A box on the embedded default keeps nothing: the bundle's (or the
	// site default's) listeners apply.
	def, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	out, kept, _ = KeepBoxLocal([]byte("site: New\nchecks: []\n"), def)
	if kept != nil || strings.Contains(string(out), "ui") {
		t.Fatalf("kept %v from the embedded default:\n%s", kept, out)
	}
}
