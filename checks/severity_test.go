package checks_test

import (
	"encoding/json"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

// total checks that cmp is a total order over xs consistent with rank:
// reflexive, antisymmetric, transitive, and 0 exactly on equal ranks.
func total[T any](t *testing.T, name string, xs []T, cmp func(a, b T) int, rank func(T) int) {
	t.Helper()
	for _, a := range xs {
		if cmp(a, a) != 0 {
			t.Errorf("%s: %v is not equal to itself", name, a)
		}
		for _, b := range xs {
			if cmp(a, b) != -cmp(b, a) {
				t.Errorf("%s: compare(%v, %v) = %d but compare(%v, %v) = %d", name, a, b, cmp(a, b), b, a, cmp(b, a))
			}
			if (cmp(a, b) == 0) != (rank(a) == rank(b)) || (cmp(a, b) < 0) != (rank(a) < rank(b)) {
				t.Errorf("%s: compare(%v, %v) = %d disagrees with ranks %d, %d", name, a, b, cmp(a, b), rank(a), rank(b))
			}
			for _, c := range xs {
				if cmp(a, b) <= 0 && cmp(b, c) <= 0 && cmp(a, c) > 0 {
					t.Errorf("%s: %v <= %v <= %v but %v > %v", name, a, b, c, a, c)
				}
			}
		}
	}
}

// TestStatusRanking: one ranking for combining results and for pages:
// critical > warning > unknown > ok > pending.
func TestStatusRanking(t *testing.T) {
	all := []checks.Status{checks.OK, checks.Warning, checks.Critical, checks.Unknown}
	total(t, "status", all, checks.Status.Compare, checks.Status.Rank)
	display := []string{"critical", "warning", "unknown", "ok", "pending"}
	for i := 1; i < len(display); i++ {
		if checks.RankOf(display[i-1]) <= checks.RankOf(display[i]) {
			t.Errorf("%s should rank above %s", display[i-1], display[i])
		}
	}
	for _, s := range all {
		if checks.RankOf(s.String()) != s.Rank() {
			t.Errorf("RankOf(%q) = %d, Rank %d", s, checks.RankOf(s.String()), s.Rank())
		}
		for _, o := range all {
			w := checks.Worst(s, o)
			if w.Rank() != max(s.Rank(), o.Rank()) || checks.Worst(o, s).Rank() != w.Rank() {
				t.Errorf("Worst(%s, %s) = %s", s, o, w)
			}
		}
	}
	if checks.RankOf("pending") != 0 || checks.RankOf("bogus") != 0 {
		t.Error("a check with no result ranks below ok")
	}
	// Pages sort by it worst first.
	got := []string{"ok", "pending", "critical", "unknown", "warning"}
	slices.SortStableFunc(got, func(a, b string) int { return checks.RankOf(b) - checks.RankOf(a) })
	if !slices.Equal(got, display) {
		t.Errorf("display order %q", got)
	}
}

// TestSeverity: info < warning < critical; names parse, print and
// marshal as the words config, stored incidents and the protocol use.
func TestSeverity(t *testing.T) {
	total(t, "severity", append(slices.Clone(checks.Severities), "", "bogus"), checks.Severity.Compare, checks.Severity.Rank)
	if !slices.IsSortedFunc(checks.Severities, checks.Severity.Compare) || checks.SeverityInfo.Compare(checks.SeverityWarning) >= 0 || checks.SeverityWarning.Compare(checks.SeverityCritical) >= 0 {
		t.Errorf("order %q", checks.Severities)
	}
	// Not set (or not valid) ranks with info, as the dashboard always
	// sorted it.
	if checks.Severity("").Rank() != checks.SeverityInfo.Rank() || checks.Severity("bogus").Rank() != checks.SeverityInfo.Rank() {
		t.Error("an unset severity ranks as info")
	}
	for _, name := range []string{"info", "warning", "critical"} {
		s, err := checks.ParseSeverity(name)
		if err != nil || s.String() != name || s.Validate() != nil {
			t.Errorf("ParseSeverity(%q) = %q, %v", name, s, err)
		}
		doc, _ := json.Marshal(checks.Labels{Severity: s})
		if string(doc) != `{"severity":"`+name+`"}` {
			t.Errorf("JSON %s", doc)
		}
		var l checks.Labels
		if err := yaml.Unmarshal([]byte("severity: "+name), &l); err != nil || l.Severity != s {
			t.Errorf("YAML %q: %q %v", name, l.Severity, err)
		}
	}
	for _, bad := range []string{"", "Critical", "high"} {
		_, err := checks.ParseSeverity(bad)
		want := `"` + bad + `" is not a severity (one of info, warning, critical)`
		if err == nil || err.Error() != want || checks.Severity(bad).Validate() == nil {
			t.Errorf("ParseSeverity(%q): %v, want %s", bad, err, want)
		}
	}
}
