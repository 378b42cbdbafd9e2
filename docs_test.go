package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"outpost/checks"
	"outpost/healing"
	"outpost/notify"
)

// A registry's names are documented in markdown tables whose first header
// cell names the registry: "kind" for check kinds, "channel" for
// notification channel kinds, "action" for healing actions. Each row's
// first cell holds one or more `name`s.
var docRegistries = []struct {
	what, header string
	names        func() []string
}{
	{"check kind", "kind", checks.KindNames},
	{"channel kind", "channel", notify.KindNames},
	{"healing action", "action", healing.Names},
}

// docListing is a name found in a registry table: where it was.
type docListing struct {
	file string
	line int
}

var (
	docLink  = regexp.MustCompile(`\]\((docs/[^)#\s]+\.md)`)
	docName  = regexp.MustCompile("`([^`]+)`")
	cellSep  = regexp.MustCompile(`(^|[^\\])\|`)
	sepRow   = regexp.MustCompile(`^\|[\s:|-]+\|$`)
	nameLike = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// docTables reads README.md and every docs/*.md it links, and returns, per
// table header ("kind", "channel", "action"), the names listed in the
// first column of such tables and where.
func docTables(t *testing.T, root string) (map[string]map[string][]docListing, []string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	seen := map[string]bool{"README.md": true}
	for _, m := range docLink.FindAllStringSubmatch(string(readme), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			files = append(files, m[1])
		}
	}
	found := map[string]map[string][]docListing{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Errorf("README.md links %s: %v", f, err)
			continue
		}
		header := "" // the first header cell of the table we are in
		lines := strings.Split(string(data), "\n")
		for i, line := range lines {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "|") {
				header = ""
				continue
			}
			first := strings.TrimSpace(cellSep.Split(line[1:], 2)[0])
			switch {
			case sepRow.MatchString(line):
			case header == "" && i+1 < len(lines) && sepRow.MatchString(strings.TrimSpace(lines[i+1])):
				header = first
			case header != "":
				for _, m := range docName.FindAllStringSubmatch(first, -1) {
					if found[header] == nil {
						found[header] = map[string][]docListing{}
					}
					found[header][m[1]] = append(found[header][m[1]], docListing{f, i + 1})
				}
			}
		}
	}
	return found, files
}

// docsDrift lists what is wrong between the registries and the docs: a
// registered name in no table of its kind, and a name in such a table that
// is not registered. extra names are treated as listed (for the test of
// the test).
func docsDrift(t *testing.T, extra map[string][]string) []string {
	found, files := docTables(t, ".")
	for header, names := range extra {
		for _, n := range names {
			if found[header] == nil {
				found[header] = map[string][]docListing{}
			}
			found[header][n] = append(found[header][n], docListing{"(injected)", 0})
		}
	}
	var problems []string
	for _, r := range docRegistries {
		registered := map[string]bool{}
		for _, n := range r.names() {
			registered[n] = true
			if len(found[r.header][n]) == 0 {
				problems = append(problems, fmt.Sprintf("%s `%s` is registered but listed in no %q table of README.md or the %d docs it links", r.what, n, r.header, len(files)-1))
			}
		}
		var listed []string
		for n := range found[r.header] {
			listed = append(listed, n)
		}
		sort.Strings(listed)
		for _, n := range listed {
			if registered[n] {
				continue
			}
			for _, at := range found[r.header][n] {
				msg := fmt.Sprintf("%s:%d: `%s` is listed as a %s but is not registered (one of %s)", at.file, at.line, n, r.what, strings.Join(r.names(), ", "))
				if !nameLike.MatchString(n) {
					msg += "; a " + r.header + " table's first column holds names only"
				}
				problems = append(problems, msg)
			}
		}
	}
	return problems
}

// TestDocsListEveryRegisteredKind: every registered check kind, channel
// kind and healing action is in a table of the README or of a doc it
// links, and every name those tables list is registered.
func TestDocsListEveryRegisteredKind(t *testing.T) {
	for _, p := range docsDrift(t, nil) {
		t.Error(p)
	}
}

// TestDocsDriftIsCaught: the check above fails on a stale name, naming it.
func TestDocsDriftIsCaught(t *testing.T) {
	problems := docsDrift(t, map[string][]string{"kind": {"carrier_pigeon"}, "channel": {"telegram"}, "action": {"reboot_the_world"}})
	want := []string{
		"(injected):0: `carrier_pigeon` is listed as a check kind but is not registered",
		"(injected):0: `telegram` is listed as a channel kind but is not registered",
		"(injected):0: `reboot_the_world` is listed as a healing action but is not registered",
	}
	all := strings.Join(problems, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("want a problem %q, got:\n%s", w, all)
		}
	}
}
