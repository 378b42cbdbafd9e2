package agent_test

import (
	"testing"

	"outpost/checks/agent"
	"outpost/checks/agent/wire"
)

func TestInventoryOSName(t *testing.T) {
	cases := []struct {
		os   wire.OSInfo
		want string
	}{
		{wire.OSInfo{Name: "Windows Server 2022", Version: "21H2", Build: "20348"}, "Windows Server 2022 21H2 (build 20348)"},
		{wire.OSInfo{Name: "Debian GNU/Linux", Version: "12"}, "Debian GNU/Linux 12"},
		{wire.OSInfo{Name: "Alpine"}, "Alpine"},
		{wire.OSInfo{}, ""},
		{wire.OSInfo{Build: "x kernel 6.1"}, " (build x kernel 6.1)"},
	}
	for _, c := range cases {
		if got := agent.OSName(wire.Inventory{OS: c.os}); got != c.want {
			t.Errorf("%+v: %q, want %q", c.os, got, c.want)
		}
	}
}

func TestInventoryPatchCounts(t *testing.T) {
	w := wire.Inventory{Patches: []wire.Patch{{ID: "KB1"}, {ID: "KB2", Pending: true}, {ID: "KB3"}, {ID: "openssl", Pending: true}, {ID: "curl", Pending: true}}}
	if in, pend := agent.PatchCounts(w); in != 2 || pend != 3 {
		t.Fatalf("installed %d, pending %d", in, pend)
	}
	if in, pend := agent.PatchCounts(wire.Inventory{}); in != 0 || pend != 0 {
		t.Fatalf("none: %d %d", in, pend)
	}
}
