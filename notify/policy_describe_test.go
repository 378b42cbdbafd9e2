package notify_test

import (
	"slices"
	"testing"
	"time"

	"outpost/checks"
	"outpost/notify"
)

func TestPolicyDescribe(t *testing.T) {
	cases := []struct {
		name string
		p    notify.Policy
		want notify.PolicySummary
	}{
		{"bare", notify.Policy{Name: "all"}, notify.PolicySummary{Matches: "any incident", Repeat: "no reminders"}},
		{"severities and groups", notify.Policy{
			Severities: []checks.Severity{checks.Severity("critical"), checks.Severity("warning")},
			Groups:     []string{"core", "edge"},
			Repeat:     30 * time.Minute,
			Steps:      []notify.Step{{Channels: []string{"email", "slack"}}, {After: 15 * time.Minute, Channels: []string{"oncall:ops"}}},
		}, notify.PolicySummary{
			Matches: "severity critical or warning, group core or edge",
			Repeat:  "reminders every 30m0s until acknowledged",
			Steps:   []string{"at once: email, slack", "after 15m0s unacknowledged: oncall:ops"},
		}},
		{"group only", notify.Policy{Groups: []string{"core"}}, notify.PolicySummary{Matches: "group core", Repeat: "no reminders"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.p.Describe()
			if got.Matches != c.want.Matches || got.Repeat != c.want.Repeat || !slices.Equal(got.Steps, c.want.Steps) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
