package notify_test

import (
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/incident"
	"outpost/notify"
)

// TestEscalationOnlyForNewPeople: a step whose channels were all told
// already sends no "escalated" message (they keep their reminders), and a
// step that adds someone tells only the newcomer, while the earlier
// recipient's reminder on the same tick still goes out: no silence
// longer than the repeat for anyone.
func TestEscalationOnlyForNewPeople(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	chs := channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+a.srv.URL+"'}}\n    - {name: b, kind: webhook, options: {url: '"+b.srv.URL+"'}}\n")
	h := newHarness(t, chs, notify.Options{Policies: []notify.Policy{{Name: "p", Repeat: 10 * time.Minute, Steps: []notify.Step{
		{Channels: []string{"a"}},
		{After: 20 * time.Minute, Channels: []string{"a"}},      // nobody new
		{After: 30 * time.Minute, Channels: []string{"a", "b"}}, // b is new
	}}}})
	h.e.Opened(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 3, Check: "db", Device: "db01", Severity: "critical", Status: checks.Critical, Opened: t0, Summary: "down"}})
	h.step(0)
	for range 3 {
		h.step(10 * time.Minute)
	}
	if a.kinds() != "opened,reminder,reminder,reminder" || b.kinds() != "escalated" {
		t.Fatalf("a %q, b %q", a.kinds(), b.kinds())
	}
}
