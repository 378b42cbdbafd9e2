package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/agent/wire"
	"outpost/checks/clock"
	"outpost/store"
)

// sampleEntry is a line of an event log rule's sample file: an entry as
// the agent's event log reader returns it, and the log it was read from.
type sampleEntry struct {
	wire.Event
	Log string `json:"log"`
}

// TestShippedEventLogRules runs every shipped rule over agent event
// logs (source: eventlog) on its sample entries
// (checks/syslog/testdata/rules/NAME.txt, "match|clear|other JSON"):
// each entry is kept as agent_eventlog keep: true keeps it, into a real
// store, and a log_match check on the rule (through the real config
// parser) judges it. A match fails the rule, and its detail (the
// incident's text) carries the job's name when the message names one
// in quotes; an other entry leaves it ok; a clear entry clears a match.
func TestShippedEventLogRules(t *testing.T) {
	n := 0
	for _, r := range checks.LogRules() {
		var o struct {
			Source string `yaml:"source"`
		}
		if err := r.Options.Decode(&o); err != nil {
			t.Fatal(err)
		}
		if o.Source != checks.SourceEventLog {
			continue
		}
		n++
		t.Run(r.Name, func(t *testing.T) {
			path := filepath.Join("..", "syslog", "testdata", "rules", r.Name+".txt")
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			type sample struct {
				want string
				e    sampleEntry
				at   int
			}
			var samples []sample
			var first *sampleEntry
			kinds := map[string]int{}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for at := 1; sc.Scan(); at++ {
				l := sc.Text()
				if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "# ") {
					continue
				}
				want, js, _ := strings.Cut(l, " ")
				var e sampleEntry
				if err := json.Unmarshal([]byte(js), &e); err != nil || (want != "match" && want != "clear" && want != "other") || e.Log == "" {
					t.Fatalf("%s:%d: want \"match|clear|other {entry with log}\": %v", path, at, err)
				}
				samples = append(samples, sample{want, e, at})
				kinds[want]++
				if want == "match" && first == nil {
					first = &samples[len(samples)-1].e
				}
			}
			if kinds["match"] == 0 || kinds["other"] == 0 {
				t.Fatalf("%s needs match and other entries: %v", path, kinds)
			}
			job := regexp.MustCompile(`'([^']+)' finished with`)
			for _, s := range samples {
				c, keep := eventRuleCheck(t, r.Name)
				if s.want == "clear" {
					keep(*first)
				}
				keep(s.e)
				res := c.Check(context.Background())
				switch {
				case s.want == "match" && res.Status == checks.OK:
					t.Errorf("%s:%d: not matched: %s", path, s.at, res.Detail)
				case s.want == "match":
					if m := job.FindStringSubmatch(s.e.Message); m != nil && !strings.Contains(res.Detail, "'"+m[1]+"'") {
						t.Errorf("%s:%d: the job %q is not in the detail: %s", path, s.at, m[1], res.Detail)
					}
				case s.want == "other" && res.Status != checks.OK:
					t.Errorf("%s:%d: matched, should not: %s", path, s.at, res.Detail)
				case s.want == "clear" && (res.Status != checks.OK || !strings.HasPrefix(res.Detail, "cleared: ")):
					t.Errorf("%s:%d: did not clear: %s %s", path, s.at, res.Status, res.Detail)
				}
			}
		})
	}
	if n < 3 {
		t.Fatalf("%d shipped event log rules, want the Windows Server Backup and Veeam ones", n)
	}
}

// eventRuleCheck builds a log_match check on a shipped rule for device
// dev over a real store, and returns it with a function that keeps an
// entry as an agent_eventlog check with keep: true does.
func eventRuleCheck(t *testing.T, rule string) (checks.Checker, func(sampleEntry)) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "o.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("site: t\ndevices:\n  - {name: dev, address: 192.0.2.10}\nchecks:\n  - {id: r, kind: log_match, target: dev, options: {rule: %s, threshold: 0}}\n", rule)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c, err := checks.Build(cfg.Specs()[0], checks.Deps{Clock: clock.Real{}, Events: st})
	if err != nil {
		t.Fatal(err)
	}
	return c, func(e sampleEntry) {
		el := &EventLog{base: base{agent: "srv01", keeper: st, device: "dev"}, q: wire.EventQuery{Log: e.Log}, keep: true}
		if el.keepEntries([]wire.Event{e.Event}) != 1 {
			t.Fatal("entry not kept")
		}
	}
}
