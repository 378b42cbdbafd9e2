package checks_test

import (
	"testing"

	"outpost/appliance/config"
	"outpost/checks"
)

// The embedded default config is what a box runs before a technician
// brings a site file: every kind it names must exist and accept its
// options.
func TestDefaultConfigBuildsEveryKind(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatalf("embedded default config: %v", err)
	}
	specs := cfg.Specs()
	if len(specs) == 0 {
		t.Fatal("the default config has no checks")
	}
	for _, sp := range specs {
		if _, ok := checks.Lookup(sp.Kind); !ok {
			t.Errorf("%s: kind %q is not registered", sp.ID, sp.Kind)
			continue
		}
		if _, err := checks.Build(sp, checks.Deps{}); err != nil {
			t.Errorf("%s: %v", sp.ID, err)
		}
	}
}
