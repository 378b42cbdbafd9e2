package main

import (
	"strings"
	"testing"

	"outpost/checks"
	"outpost/healing"
	"outpost/notify"
)

// TestCheckKindsListsTheRegistries: the real binary's `outpost check
// --kinds` lists every check kind with whether it needs a target and its
// summary, then every channel kind and healing action with theirs, each
// section sorted; the binary knows the same kinds as this package's
// import graph.
func TestCheckKindsListsTheRegistries(t *testing.T) {
	out, code := outpost(t, "check", "--kinds")
	if code != 0 {
		t.Fatalf("check --kinds: exit %d\n%s", code, out)
	}
	sections := strings.Split(out, "\n\n")
	if len(sections) != 3 || !strings.HasPrefix(sections[0], "Check kinds") || !strings.HasPrefix(sections[1], "Notification channel kinds") || !strings.HasPrefix(sections[2], "Healing action kinds") {
		t.Fatalf("want three sections (check kinds, channel kinds, healing actions):\n%s", out)
	}
	names := func(section string, skip int) []string {
		var n []string
		for _, line := range strings.Split(strings.TrimSpace(section), "\n")[skip:] {
			n = append(n, strings.Fields(line)[0])
		}
		return n
	}
	var want []string
	for _, k := range checks.Kinds() {
		want = append(want, k.Name)
		target := "none"
		if k.NeedsTarget {
			target = "required"
		}
		found := false
		for _, line := range strings.Split(sections[0], "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == k.Name {
				found = f[1] == target && strings.HasSuffix(line, "  "+k.Summary)
			}
		}
		if !found {
			t.Errorf("kind %s: want target %s and summary %q:\n%s", k.Name, target, k.Summary, sections[0])
		}
	}
	if got := names(sections[0], 2); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("check kinds %q, want %q", got, want)
	}
	// The channel and action sections: name, then the summary.
	summarised := func(section string, names, summaries []string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(section), "\n")[2:]
		if len(lines) != len(names) {
			t.Errorf("want %d entries %q:\n%s", len(names), names, section)
			return
		}
		for i, line := range lines {
			if f := strings.Fields(line); f[0] != names[i] || !strings.HasSuffix(line, "  "+summaries[i]) || summaries[i] == "" {
				t.Errorf("entry %d: want %s with summary %q, got %q", i, names[i], summaries[i], line)
			}
		}
	}
	var cn, cs []string
	for _, k := range notify.Kinds() {
		cn, cs = append(cn, k.Name), append(cs, k.Summary)
	}
	summarised(sections[1], cn, cs)
	var an, as []string
	for _, k := range healing.Kinds() {
		an, as = append(an, k.Name), append(as, k.Summary)
	}
	summarised(sections[2], an, as)
	if out, code := outpost(t, "check", "--kinds", "--config", "site.yaml"); code != 2 || !strings.Contains(out, "reads no --config") {
		t.Errorf("--kinds --config: exit %d\n%s", code, out)
	}
}
