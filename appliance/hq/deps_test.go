package hq_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfTheBox: the receiver and its pages depend on the
// protocol, the clock, the shared login rules (ui/login), and for the
// alerts it raises about boxes the notify package with the vocabulary
// it speaks (the same channels and policies as the box's), not on the
// box's store, provisioning, healing, scheduler or sender.
func TestImportsNothingOfTheBox(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list imports with")
	}
	out, err := exec.Command(goTool, "list", "-deps", "outpost/appliance/hq", "outpost/ui/hq").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{"outpost/appliance/hq": true, "outpost/ui/hq": true, "outpost/appliance/phonehome/wire": true, "outpost/checks/clock": true, "outpost/ui/login": true,
		"outpost/notify": true, "outpost/checks": true, "outpost/checks/incident": true, "outpost/checks/registry": true, "outpost/checks/forecast": true, "outpost/checks/agent/wire": true}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "outpost/") && !allowed[p] {
			t.Errorf("hq imports %s", p)
		}
	}
}
