package incidents_test

import (
	"context"
	"strings"
	"testing"

	"outpost/appliance/incidents"
	"outpost/checks"
	"outpost/checks/agent"
	"outpost/checks/agent/wire"
)

// TestBackupJobNameInIncident: a Veeam job session that finished with
// Failed, kept from a server's event log as agent_eventlog keep: true
// keeps it, fails the shipped veeam-job-failed rule, and the incident
// it opens names the job; the job's next success resolves it.
// Likewise Windows Server Backup's failure event 5 and success event 4.
func TestBackupJobNameInIncident(t *testing.T) {
	h := newHarness(t, `site: t
devices:
  - {name: sql01, address: 192.0.2.10}
checks:
  - {id: sql01-veeam, kind: log_match, target: sql01, options: {rule: veeam-job-failed}}
  - {id: sql01-wsb, kind: log_match, target: sql01, options: {rule: windows-server-backup-failed}}
`, "")
	build := func(id string) checks.Checker {
		c, err := checks.Build(h.spec(id), checks.Deps{Clock: h.clock, Events: h.st})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	keep := func(log string, e wire.Event) {
		h.st.AppendEvent(agent.EntryEvent("sql01", "sql01", log, e, h.clock.Now()))
	}
	run := func(id string, c checks.Checker) checks.Result {
		r := c.Check(context.Background())
		h.eng.Observe(h.spec(id), r)
		return r
	}
	veeam, wsb := build("sql01-veeam"), build("sql01-wsb")
	keep("Veeam Backup", wire.Event{Time: h.clock.Now(), Source: "Veeam MP", ID: 190, Level: "error",
		Message: "Backup job 'Nightly SQL01' finished with Failed.\r\nJob details: Error: Failed to connect to the repository 'NAS02'."})
	keep("Application", wire.Event{Time: h.clock.Now(), Source: "Microsoft-Windows-Backup", ID: 5, Level: "error",
		Message: "The backup operation that started at '2026-11-24T09:00:01.000Z' has failed with following error code '0x807800C5'."})
	for range 3 {
		h.clock.Advance(1e9)
		run("sql01-veeam", veeam)
		run("sql01-wsb", wsb)
	}
	open := h.list(true)
	if len(open) != 2 {
		t.Fatalf("open incidents: %+v", open)
	}
	for _, inc := range open {
		text := inc.Timeline[0].Text
		switch inc.Check {
		case "sql01-veeam":
			if !strings.Contains(text, "Backup job 'Nightly SQL01' finished with Failed") {
				t.Errorf("the Veeam incident does not name the job: %q", text)
			}
		case "sql01-wsb":
			if !strings.Contains(text, "error code '0x807800C5'") || !strings.Contains(text, "event_id=5") {
				t.Errorf("the Windows Server Backup incident: %q", text)
			}
		}
	}
	keep("Veeam Backup", wire.Event{Time: h.clock.Now(), Source: "Veeam MP", ID: 190, Level: "information", Message: "Backup job 'Nightly SQL01' finished with Success."})
	keep("Application", wire.Event{Time: h.clock.Now(), Source: "Microsoft-Windows-Backup", ID: 4, Level: "information", Message: "The backup operation has finished successfully."})
	for range 3 {
		h.clock.Advance(1e9)
		run("sql01-veeam", veeam)
		run("sql01-wsb", wsb)
	}
	if open := h.list(true); len(open) != 0 {
		t.Fatalf("the successes did not resolve: %+v", open)
	}
	var resolved []incidents.Incident
	for _, inc := range h.list(false) {
		if inc.State == incidents.Resolved {
			resolved = append(resolved, inc)
		}
	}
	if len(resolved) != 2 {
		t.Fatalf("resolved: %+v", resolved)
	}
}
