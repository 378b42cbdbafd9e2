package config_test

import (
	"errors"
	"strings"
	"testing"

	"outpost/appliance/config"
)

const editSeed = "site: Acme\n# the seed file\nchecks:\n  - {id: a, kind: tcp, target: '127.0.0.1:1'}\n"

// TestEditCheck: a check added or replaced through the form's fields is
// YAML that validates like a file; comments and the rest are kept.
func TestEditCheck(t *testing.T) {
	raw, err := config.EditCheck([]byte(editSeed), "", config.CheckEdit{ID: "b", Kind: "tcp", Target: "127.0.0.1:2", Interval: "5x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.ParseEdited("site.yaml", raw)
	if !errors.Is(err, config.ErrEditInvalid) || !strings.Contains(err.Error(), `checks[1].interval: "5x" is not a duration`) {
		t.Fatalf("invalid edit: %v", err)
	}
	raw, err = config.EditCheck([]byte(editSeed), "", config.CheckEdit{ID: "b", Kind: "http", Target: " http://127.0.0.1:2/ ", Interval: "30s", Device: "web01", Options: "{body_contains: ok}"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseEdited("site.yaml", raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if cfg.File != "site.yaml" || !strings.Contains(string(raw), "# the seed file") {
		t.Fatalf("file %q, comments lost:\n%s", cfg.File, raw)
	}
	f, ok := config.CheckFormOf(raw, "b")
	if !ok || f != (config.CheckEdit{ID: "b", Kind: "http", Target: "http://127.0.0.1:2/", Interval: "30s", Device: "web01", Options: "{body_contains: ok}"}) {
		t.Fatalf("form back: %+v", f)
	}
	raw, err = config.EditCheck(raw, "a", config.CheckEdit{ID: "a", Kind: "tcp", Target: "127.0.0.1:9", Group: "core", Severity: "critical"})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := config.CheckFormOf(raw, "a"); f.Target != "127.0.0.1:9" || f.Group != "core" || f.Severity != "critical" {
		t.Fatalf("replaced: %+v\n%s", f, raw)
	}
	if _, err := config.EditCheck(raw, "zz", config.CheckEdit{ID: "zz", Kind: "tcp"}); err == nil || err.Error() != `no check "zz" in the config` {
		t.Fatalf("unknown check: %v", err)
	}
	if _, err := config.EditCheck(raw, "", config.CheckEdit{ID: "c", Kind: "tcp", Options: "[1, 2]"}); !errors.Is(err, config.ErrEditInvalid) || !strings.Contains(err.Error(), "options: must be a YAML mapping") {
		t.Fatalf("bad options: %v", err)
	}
	if _, err := config.EditCheck([]byte("site: x\nchecks: {a: 1}\n"), "", config.CheckEdit{ID: "c"}); err == nil || !strings.Contains(err.Error(), "checks: is not a list") {
		t.Fatalf("checks not a list: %v", err)
	}
	// A config without checks gets the list.
	raw, err = config.EditCheck([]byte("site: x\n"), "", config.CheckEdit{ID: "c", Kind: "tcp", Target: "127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := config.CheckFormOf(raw, "c"); !ok {
		t.Fatalf("added to a config without checks:\n%s", raw)
	}
}

func TestDeleteCheck(t *testing.T) {
	raw, err := config.DeleteCheck([]byte(editSeed), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := config.CheckFormOf(raw, "a"); ok || !strings.Contains(string(raw), "# the seed file") {
		t.Fatalf("after delete:\n%s", raw)
	}
	if _, err := config.DeleteCheck([]byte(editSeed), "b"); err == nil || err.Error() != `no check "b" in the config` {
		t.Fatalf("unknown check: %v", err)
	}
	if _, err := config.DeleteCheck([]byte(""), "a"); err == nil || !strings.Contains(err.Error(), "the running config cannot be edited") {
		t.Fatalf("empty config: %v", err)
	}
}

// TestReplaceSection: sections edited as YAML text, validated like the
// file; an empty text removes the section.
func TestReplaceSection(t *testing.T) {
	raw, err := config.ReplaceSection([]byte(editSeed), "maintenance", "- {name: x, weekly: {days: [funday], at: '02:00', duration: 1h}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.ParseEdited("", raw); !errors.Is(err, config.ErrEditInvalid) || !strings.Contains(err.Error(), `"funday" is not a day`) || !strings.Contains(err.Error(), "config:") {
		t.Fatalf("bad section: %v", err)
	}
	raw, err = config.ReplaceSection([]byte(editSeed), "maintenance", "- {name: patch night, weekly: {days: [sun], at: '02:00', duration: 3h}}\n")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseEdited("", raw)
	if err != nil || len(cfg.Maintenance) != 1 {
		t.Fatalf("%v %+v", err, cfg)
	}
	if got := config.SectionOf(raw, "maintenance"); !strings.Contains(got, "patch night") {
		t.Fatalf("section back: %q", got)
	}
	raw, err = config.ReplaceSection(raw, "maintenance", "- {name: later, weekly: {days: [sat], at: '03:00', duration: 1h}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := config.SectionOf(raw, "maintenance"); !strings.Contains(got, "later") || strings.Contains(got, "patch night") {
		t.Fatalf("replaced: %q", got)
	}
	raw, err = config.ReplaceSection(raw, "maintenance", "  \n")
	if err != nil {
		t.Fatal(err)
	}
	if got := config.SectionOf(raw, "maintenance"); got != "" || !strings.Contains(string(raw), "# the seed file") {
		t.Fatalf("removed: %q\n%s", got, raw)
	}
	if _, err := config.ReplaceSection(raw, "notify", "a: [\n"); !errors.Is(err, config.ErrEditInvalid) || !strings.Contains(err.Error(), "notify: not valid YAML: ") {
		t.Fatalf("bad YAML: %v", err)
	}
	if !config.IsEditableSection("maintenance") || config.IsEditableSection("store") {
		t.Fatal("editable sections")
	}
}
