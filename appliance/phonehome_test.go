package appliance

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"outpost/appliance/phonehome/summary"
	phwire "outpost/appliance/phonehome/wire"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/store"
)

// TestSummaryContents: what a summary says about a site, computed by the
// daemon from its config, results and incidents.
func TestSummaryContents(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.yaml")
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`site: Acme
incidents: {confirm: 1}
devices:
  - {name: nas, class: server}
  - {name: printer, class: printer}
checks:
  - {id: nas-disk, kind: disk, target: /, interval: 1h, labels: {device: nas}}
  - {id: nas-smb, kind: tcp, target: '127.0.0.1:1', interval: 1h, labels: {device: nas}}
  - {id: printer-web, kind: tcp, target: '127.0.0.1:1', interval: 1h, labels: {device: printer}}
`)
	clk := clock.NewFake(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	a, err := New(Options{ConfigPath: p, DataDir: filepath.Join(dir, "data"), Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	specs := map[string]checks.Spec{}
	for _, sp := range a.Config().Specs() {
		specs[sp.ID] = sp
	}
	a.onResult(specs["nas-disk"], checks.Result{Time: clk.Now(), Status: checks.Warning, Value: 91.5, HasValue: true, Detail: "/ 91.5% used"})
	a.onResult(specs["printer-web"], checks.Result{Time: clk.Now(), Status: checks.OK})
	a.onResult(specs["nas-smb"], checks.Result{Time: clk.Now(), Status: checks.Critical, Detail: "connection refused"})

	var m store.PhoneMeta
	s1, inv, err := a.buildSummary("start", 1, m, false)
	if err != nil {
		t.Fatal(err)
	}
	// The three checks of the file and the built-in ones (the box's
	// clock, its store...), which have not run yet.
	builtins := len(specs) - 3
	if s1.Box.ID != a.id.ID() || s1.Box.Site != "Acme" || builtins < 1 || s1.Health != (phwire.Health{Checks: 3 + builtins, OK: 1, Warning: 1, Critical: 1, Pending: builtins}) {
		t.Fatalf("box/health: %+v %+v", s1.Box, s1.Health)
	}
	if len(s1.Inventory.New) != 2 || s1.Inventory.New[0].Name != "nas" || s1.Inventory.New[0].Checks != 2 || len(s1.Inventory.Gone) != 0 {
		t.Fatalf("first inventory: %+v", s1.Inventory)
	}
	if len(s1.Capacity) != 1 || s1.Capacity[0].Check != "nas-disk" || s1.Capacity[0].Value != 91.5 {
		t.Fatalf("capacity: %+v", s1.Capacity)
	}
	// The disk warning and the refused connection both opened incidents.
	ids := map[string]uint64{}
	for _, inc := range s1.OpenIncidents {
		if len(inc.Timeline) == 0 || inc.Timeline[0].Kind != "detected" {
			t.Fatalf("incident without its timeline: %+v", inc)
		}
		ids[inc.Check] = inc.ID
	}
	if len(ids) != 2 || ids["nas-smb"] == 0 || ids["nas-disk"] == 0 {
		t.Fatalf("open incidents: %+v", s1.OpenIncidents)
	}

	// Acknowledged after 10 minutes, resolved after an hour.
	m.Inventory, m.Built = inv, clk.Now().Format(time.RFC3339Nano)
	clk.Advance(10 * time.Minute)
	if _, err := a.inc.Acknowledge(ids["nas-smb"], "alice", ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Minute)
	for _, id := range ids {
		if _, err := a.inc.Resolve(id, "alice", "replaced the NIC"); err != nil {
			t.Fatal(err)
		}
	}
	// The printer leaves, a switch arrives, the NAS gains a check.
	write(`site: Acme
devices:
  - {name: nas, class: server}
  - {name: core, class: switch}
checks:
  - {id: nas-disk, kind: disk, target: /, interval: 1h, labels: {device: nas}}
  - {id: nas-smb, kind: tcp, target: '127.0.0.1:1', interval: 1h, labels: {device: nas}}
  - {id: nas-ping, kind: tcp, target: '127.0.0.1:1', interval: 1h, labels: {device: nas}}
  - {id: core-ping, kind: tcp, target: '127.0.0.1:1', interval: 1h, labels: {device: core}}
`)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	s2, _, err := a.buildSummary("incident_resolved", 2, m, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.OpenIncidents) != 0 || len(s2.ClosedIncidents) != 2 || s2.ClosedIncidents[0].Resolution == "" {
		t.Fatalf("incidents: open %+v closed %+v", s2.OpenIncidents, s2.ClosedIncidents)
	}
	inv2 := s2.Inventory
	if len(inv2.New) != 1 || inv2.New[0].Name != "core" || len(inv2.Gone) != 1 || inv2.Gone[0] != "printer" ||
		len(inv2.Changed) != 1 || inv2.Changed[0].Name != "nas" || inv2.Changed[0].Checks != 3 || len(inv2.Full) != 2 {
		t.Fatalf("inventory delta: %+v", inv2)
	}
	sla := s2.SLA
	// Two incidents of an hour over 30 days of 4 checks; one acknowledged.
	want := 100 * (1 - 2*3600/(4*summary.SLAWindow.Seconds()))
	if sla.Incidents != 2 || sla.Acknowledged != 1 || sla.Resolved != 2 || sla.MeanTimeToAck != 600 || sla.MeanTimeToResolve != 3600 || sla.UptimePercent < want-1e-9 || sla.UptimePercent > want+1e-9 {
		t.Fatalf("SLA: %+v, want uptime %v", sla, want)
	}
	// The next summary reports nothing closed again.
	m.Built = clk.Now().Format(time.RFC3339Nano)
	if s3, _, _ := a.buildSummary("interval", 3, m, false); len(s3.ClosedIncidents) != 0 {
		t.Fatalf("closed again: %+v", s3.ClosedIncidents)
	}
	// The clock is stepped back 30 days (a wrong date corrected); an
	// incident resolved after that is still reported as closed.
	clk.Jump(-30 * 24 * time.Hour)
	for _, id := range []string{"nas-ping", "core-ping"} {
		sp := specOf(t, a, id)
		a.onResult(sp, checks.Result{Time: clk.Now(), Status: checks.Critical, Detail: "refused"})
		a.onResult(sp, checks.Result{Time: clk.Now(), Status: checks.Critical, Detail: "refused"})
	}
	open, _ := a.inc.List(true, 10)
	for _, inc := range open {
		if _, err := a.inc.Resolve(inc.ID, "bob", "cable"); err != nil {
			t.Fatal(err)
		}
	}
	s4, _, _ := a.buildSummary("incident_resolved", 4, m, false)
	reported := map[uint64]bool{}
	for _, inc := range s4.ClosedIncidents {
		reported[inc.ID] = true
	}
	// The two resolved before the step, stamped after the clock now
	// reads, are repeated: better twice (hq keys them by id) than never.
	if len(open) != 2 || !reported[open[0].ID] || !reported[open[1].ID] || len(reported) != 4 {
		t.Fatalf("after a step back: %d opened, closed reported %+v", len(open), s4.ClosedIncidents)
	}
}

func specOf(t *testing.T, a *Appliance, id string) checks.Spec {
	t.Helper()
	for _, sp := range a.Config().Specs() {
		if sp.ID == id {
			return sp
		}
	}
	t.Fatalf("no check %s", id)
	return checks.Spec{}
}
