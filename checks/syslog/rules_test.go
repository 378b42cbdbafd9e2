package syslog

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/store"
)

// sample is one line of a rule's testdata: what the rule must make of it.
type sample struct {
	want, line string
	at         int
}

// readSamples reads testdata/rules/NAME.txt: "# " comments (the first
// names the format's source), then lines "match LINE", "clear LINE" or
// "other LINE" (neither), LINE as a device sends it.
func readSamples(t *testing.T, path string) (source string, out []sample) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, "# "):
			if source == "" {
				source = strings.TrimPrefix(l, "# ")
			}
		default:
			want, line, ok := strings.Cut(l, " ")
			if !ok || (want != "match" && want != "clear" && want != "other") {
				t.Fatalf("%s:%d: want \"match|clear|other LINE\", got %q", path, n, l)
			}
			out = append(out, sample{want, line, n})
		}
	}
	return source, out
}

// ruleCheck builds a log_match check on the shipped rule through the
// real config parser, over a real store on a fake clock, with extra
// options (threshold: 0 judges one line).
func ruleCheck(t *testing.T, rule, extra string) (checks.Checker, *store.Store, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC))
	st, err := store.Open(filepath.Join(t.TempDir(), "o.db"), store.Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("site: t\ndevices:\n  - {name: dev, address: 192.0.2.10}\nchecks:\n  - {id: r, kind: log_match, target: dev, options: {rule: %s%s}}\n", rule, extra)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{Clock: fc, Events: st})
	if err != nil {
		t.Fatal(err)
	}
	return c, st, fc
}

// receive stores a line as the receiver does: parsed, attributed to dev.
func receive(st *store.Store, fc *clock.Fake, line string) {
	m := NewParser(fc).Parse([]byte(line))
	st.AppendEvent(eventOf(m, fc.Now(), "dev", netip.MustParseAddr("192.0.2.10"), "udp"))
	fc.Advance(time.Second)
}

// TestShippedRulesOnSampleLines runs every shipped syslog rule on its
// sample lines (testdata/rules, written in each vendor's documented
// format, the source named in each file): each match line alone fails
// the rule, each other line leaves it ok, each clear line clears a
// match; a rule with a threshold fails on one more than it and not on
// it.
func TestShippedRulesOnSampleLines(t *testing.T) {
	for _, r := range checks.LogRules() {
		var o struct {
			Trap      any    `yaml:"trap"`
			Source    string `yaml:"source"`
			Threshold int    `yaml:"threshold"`
		}
		if err := r.Options.Decode(&o); err != nil {
			t.Fatal(err)
		}
		if o.Trap != nil || o.Source == checks.SourceTrap {
			continue // trap rules: appliance TestShippedTrapRules, with snmptrap
		}
		if o.Source == checks.SourceEventLog {
			continue // agent event log rules: checks/agent TestShippedEventLogRules
		}
		t.Run(r.Name, func(t *testing.T) {
			path := filepath.Join("testdata", "rules", r.Name+".txt")
			source, samples := readSamples(t, path)
			if source == "" {
				t.Fatalf("%s names no source of its lines (a first \"# \" comment)", path)
			}
			var firstMatch string
			kinds := map[string]int{}
			for _, s := range samples {
				kinds[s.want]++
				if s.want == "match" && firstMatch == "" {
					firstMatch = s.line
				}
			}
			if kinds["match"] == 0 || kinds["other"] == 0 {
				t.Fatalf("%s needs match and other lines: %v", path, kinds)
			}
			for _, s := range samples {
				c, st, fc := ruleCheck(t, r.Name, ", threshold: 0")
				if s.want == "clear" {
					receive(st, fc, firstMatch)
				}
				receive(st, fc, s.line)
				res := c.Check(context.Background())
				switch {
				case s.want == "match" && res.Status == checks.OK:
					t.Errorf("%s:%d: not matched: %s\n  %s", path, s.at, res.Detail, s.line)
				case s.want == "other" && res.Status != checks.OK:
					t.Errorf("%s:%d: matched, should not: %s", path, s.at, res.Detail)
				case s.want == "clear" && (res.Status != checks.OK || !strings.HasPrefix(res.Detail, "cleared: ")):
					t.Errorf("%s:%d: did not clear: %s %s", path, s.at, res.Status, res.Detail)
				}
			}
			if o.Threshold > 0 {
				c, st, fc := ruleCheck(t, r.Name, "")
				for range o.Threshold {
					receive(st, fc, firstMatch)
				}
				if res := c.Check(context.Background()); res.Status != checks.OK {
					t.Errorf("%d lines, at the threshold, fail the rule: %s", o.Threshold, res.Detail)
				}
				receive(st, fc, firstMatch)
				if res := c.Check(context.Background()); res.Status == checks.OK {
					t.Errorf("%d lines, over the threshold, leave the rule ok: %s", o.Threshold+1, res.Detail)
				}
			}
		})
	}
}

// Every shipped rule is in docs/logs.md's table.
func TestShippedRulesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "logs.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range checks.LogRules() {
		if !strings.Contains(string(doc), "| `"+r.Name+"` |") {
			t.Errorf("docs/logs.md's shipped rules table has no row for %s", r.Name)
		}
	}
}
