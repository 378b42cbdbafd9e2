package incidents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/incidents"
	"outpost/checks"
	"outpost/checks/clock"
	"outpost/healing"
	"outpost/store"
)

var flakyBin string

func TestMain(m *testing.M) {
	dir, _ := os.MkdirTemp("", "flaky-")
	flakyBin = filepath.Join(dir, "flaky")
	if out, err := exec.Command("go", "build", "-o", flakyBin, "./testdata/flaky").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building flaky: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

type harness struct {
	t       *testing.T
	clock   *clock.Fake
	st      *store.Store
	eng     *incidents.Engine
	cfg     *config.Config
	mu      sync.Mutex
	recheck checks.Status
	checked int
	events  []incidents.Event
}

func newHarness(t *testing.T, yaml string, path string) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock.NewFake(t0), recheck: checks.Critical}
	if path == "" {
		path = filepath.Join(t.TempDir(), "o.db")
	}
	var err error
	h.st, err = store.Open(path, store.Options{Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	h.cfg, err = config.Parse("site.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	h.eng = incidents.New(incidents.Options{
		Store: h.st, Clock: h.clock, Runner: healing.NewRunner(h.clock, storeAudit{h.st}),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Recheck: func(ctx context.Context, id string) (checks.Result, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.checked++
			return checks.Result{Time: h.clock.Now(), Status: h.recheck, Detail: "recheck " + h.recheck.String()}, nil
		},
		OnChange: func(inc incidents.Incident, ev incidents.Event) {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		},
	})
	if err := h.eng.Configure(h.cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.eng.Close(); h.st.Close() })
	return h
}

// storeAudit keeps the audit in the store, as the daemon does.
type storeAudit struct{ s *store.Store }

func (a storeAudit) Audit(e healing.AuditEntry) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return a.s.AppendAudit(doc)
}

func (h *harness) spec(id string) checks.Spec {
	for _, s := range h.cfg.Specs() {
		if s.ID == id {
			return s
		}
	}
	h.t.Fatalf("no check %s", id)
	return checks.Spec{}
}

func (h *harness) feed(id string, sts ...checks.Status) {
	for _, s := range sts {
		h.clock.Advance(time.Minute)
		h.eng.Observe(h.spec(id), checks.Result{Time: h.clock.Now(), Status: s, Detail: id + " " + s.String()})
	}
}

func (h *harness) list(open bool) []incidents.Incident {
	l, err := h.eng.List(open, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return l
}

const (
	C = checks.Critical
	O = checks.OK
	W = checks.Warning
)

func TestConfirmationAndRecovery(t *testing.T) {
	h := newHarness(t, "site: s\nchecks:\n  - {id: web, kind: tcp, target: '127.0.0.1:1'}\n", "")
	h.feed("web", C)
	if len(h.list(false)) != 0 {
		t.Fatal("one failure opened an incident")
	}
	h.feed("web", O, C, C)
	open := h.list(true)
	if len(open) != 1 || open[0].Check != "web" || open[0].Status != C || !open[0].Escalated {
		t.Fatalf("open: %+v", open)
	}
	h.feed("web", W)
	if inc := h.list(true)[0]; inc.Status != W || inc.Timeline[len(inc.Timeline)-1].Kind != incidents.Updated {
		t.Fatalf("status change not on the timeline: %+v", inc)
	}
	h.feed("web", O)
	if len(h.list(true)) != 1 {
		t.Fatal("one ok resolved it; recovery needs 2")
	}
	h.feed("web", O)
	all := h.list(false)
	if len(all) != 1 || all[0].State != incidents.Resolved || all[0].Resolution != "recovered" {
		t.Fatalf("after recovery: %+v", all)
	}
}

func TestFlappingOpensOneIncident(t *testing.T) {
	h := newHarness(t, "site: s\nincidents: {confirm: 1, recover: 1}\nchecks:\n  - {id: wan, kind: tcp, target: '127.0.0.1:1'}\n", "")
	for i := 0; i < 30; i++ {
		h.feed("wan", C, O)
	}
	all := h.list(false) // newest first
	// Before there is enough history to judge (10 results), each failure
	// is an incident of its own; from then on, one flapping incident and
	// nothing else.
	if len(all) == 0 || !all[0].Flapping || len(all) > 6 {
		t.Fatalf("%d incidents, newest flapping=%v, for 60 alternating results", len(all), len(all) > 0 && all[0].Flapping)
	}
	for _, inc := range all[1:] {
		if inc.Flapping {
			t.Fatal("two flapping incidents")
		}
	}
	// Steady again: the flapping incident resolves.
	for i := 0; i < 21; i++ {
		h.feed("wan", O)
	}
	if open := h.list(true); len(open) != 0 {
		t.Fatalf("still open after stable results: %+v", open)
	}
}

func TestParentOutageMakesOneIncident(t *testing.T) {
	y := `site: s
devices:
  - {name: core-switch}
  - {name: printer, parent: core-switch}
  - {name: nas, parent: core-switch}
checks:
  - {id: switch-ping, kind: tcp, target: '127.0.0.1:1', labels: {device: core-switch}}
  - {id: printer-web, kind: tcp, target: '127.0.0.1:2', labels: {device: printer}}
  - {id: nas-smb, kind: tcp, target: '127.0.0.1:3', labels: {device: nas}}
  - {id: nas-web, kind: tcp, target: '127.0.0.1:4', depends_on: nas-smb, labels: {device: other}}
`
	h := newHarness(t, y, "")
	for i := 0; i < 3; i++ {
		h.feed("switch-ping", C)
		h.feed("printer-web", C)
		h.feed("nas-smb", C)
		h.feed("nas-web", C)
	}
	open := h.list(true)
	if len(open) != 1 || open[0].Check != "switch-ping" {
		t.Fatalf("want one incident for the switch, got %d: %+v", len(open), open)
	}
	// nas-web depends on nas-smb, itself behind the switch: it joins too.
	if got := strings.Join(open[0].Children, ","); got != "printer-web,nas-smb,nas-web" {
		t.Fatalf("children %q", got)
	}
	unreach := 0
	for _, ev := range open[0].Timeline {
		if ev.Kind == incidents.Unreachable && strings.Contains(ev.Text, "unreachable behind switch-ping") {
			unreach++
		}
	}
	if unreach != 3 {
		t.Fatalf("%d unreachable entries", unreach)
	}
}

// TestChildConfirmedBeforeParent: a child whose failures are confirmed
// while its parent has failed once (not yet confirmed) waits for the
// parent's verdict instead of opening an incident of its own.
func TestChildConfirmedBeforeParent(t *testing.T) {
	y := `site: s
checks:
  - {id: router, kind: tcp, target: '127.0.0.1:1'}
  - {id: nas, kind: tcp, target: '127.0.0.1:2', depends_on: router}
  - {id: cam, kind: tcp, target: '127.0.0.1:3', depends_on: router}
`
	h := newHarness(t, y, "")
	h.feed("router", C)
	h.feed("nas", C, C)
	if n := len(h.list(true)); n != 0 {
		t.Fatalf("%d incidents before the parent's verdict", n)
	}
	h.feed("router", C)
	h.feed("nas", C)
	open := h.list(true)
	if len(open) != 1 || open[0].Check != "router" || strings.Join(open[0].Children, ",") != "nas" {
		t.Fatalf("want one router incident with nas behind it: %+v", open)
	}
	// The parent recovers, the child still fails: now it is the child's own.
	h.feed("router", O, O)
	h.feed("cam", C, C)
	h.feed("nas", C)
	open = h.list(true)
	if len(open) != 2 || open[0].Check != "nas" || open[1].Check != "cam" {
		t.Fatalf("after the parent recovered: %+v", open)
	}
}

func TestMaintenanceWindowNoHealing(t *testing.T) {
	counter := filepath.Join(t.TempDir(), "count")
	y := fmt.Sprintf(`site: s
healing: {allow_commands: [[%s, count, "*"]], settle: 1s}
maintenance:
  - {name: patch night, device: web01, start: "2026-11-24T09:00:00Z", end: "2026-11-24T12:00:00Z"}
checks:
  - id: web
    kind: tcp
    target: 127.0.0.1:1
    labels: {device: web01}
    remediations:
      - {action: command, command: [%s, count, %s]}
`, flakyBin, flakyBin, counter)
	h := newHarness(t, y, "")
	h.feed("web", C, C)
	open := h.list(true)
	if len(open) != 1 || !open[0].InMaintenance || !strings.Contains(open[0].Timeline[0].Text, "in patch night") || open[0].Escalated {
		t.Fatalf("incident in maintenance: %+v", open)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(counter); err == nil {
		t.Fatal("healing ran during maintenance")
	}
}

func TestWeeklyMaintenance(t *testing.T) {
	cfg, err := config.Parse("s.yaml", []byte("site: s\nmaintenance:\n  - {weekly: {days: [sun], at: '23:00', duration: 3h, timezone: UTC}}\nchecks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := &cfg.Maintenance[0]
	sunday := time.Date(2026, 11, 29, 23, 30, 0, 0, time.UTC)
	for at, want := range map[time.Time]bool{sunday: true, sunday.Add(2 * time.Hour): true, sunday.Add(3 * time.Hour): false, sunday.Add(-time.Hour): false, sunday.Add(-7*24*time.Hour + time.Hour): true} {
		if m.Active(at) != want {
			t.Errorf("Active(%v) = %v", at, !want)
		}
	}
}

// TestServiceThatDiesAfterEveryRestart: the remediation "works" but the
// re-check fails each time: at most max_attempts runs in the window,
// then healing is suspended and exactly one escalation is raised.
func TestServiceThatDiesAfterEveryRestart(t *testing.T) {
	counter := filepath.Join(t.TempDir(), "count")
	y := fmt.Sprintf(`site: s
healing: {allow_commands: [[%s, count, "*"]], settle: 10s, max_attempts: 3, window: 1h}
checks:
  - id: app
    kind: tcp
    target: 127.0.0.1:1
    remediations:
      - {action: command, command: [%s, count, %s]}
`, flakyBin, flakyBin, counter)
	h := newHarness(t, y, "")
	h.mu.Lock()
	h.recheck = C
	h.mu.Unlock()
	// Each incident: healing runs, the re-check fails, it escalates; the
	// service then "comes back" (two oks) and dies again.
	for round := 0; round < 4; round++ { // about 40 minutes: inside the 1h window
		h.feed("app", C, C)
		h.waitHealing()
		h.feed("app", O, O, O, O, O, O, O, O)
	}
	data, _ := os.ReadFile(counter)
	if n := strings.Count(string(data), "restart"); n != 3 {
		t.Fatalf("%d restarts, want exactly 3 (max_attempts)", n)
	}
	suspended := 0
	for _, inc := range h.list(false) {
		if inc.HealingSuspended {
			suspended++
		}
	}
	if suspended == 0 {
		t.Fatal("healing was never suspended")
	}
	// Now the service stays down: one incident, suspended, escalated once.
	h.feed("app", C, C)
	h.waitHealing()
	h.feed("app", C, C, C)
	open := h.list(true)
	if len(open) != 1 || !open[0].HealingSuspended {
		t.Fatalf("open %+v", open)
	}
	esc := 0
	for _, ev := range open[0].Timeline {
		if ev.Kind == incidents.Escalation {
			esc++
		}
	}
	if esc != 1 {
		t.Fatalf("%d escalations on the open incident, want 1", esc)
	}
}

// waitHealing drives the fake clock through settle times until no heal
// goroutine is waiting.
func (h *harness) waitHealing() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if h.eng.HealingInProgress() == 0 {
			return
		}
		if h.clock.Waiters() > 0 {
			h.clock.Advance(10 * time.Second)
		}
		time.Sleep(time.Millisecond)
	}
	h.t.Fatal("healing did not finish")
}

func TestSelfHealedAndRestartKeepsIncident(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "count")
	path := filepath.Join(dir, "o.db")
	y := fmt.Sprintf(`site: s
healing: {allow_commands: [[%s, count, "*"]]}
checks:
  - id: app
    kind: tcp
    target: 127.0.0.1:1
    remediations:
      - {action: command, command: [%s, count, %s]}
  - id: db
    kind: tcp
    target: 127.0.0.1:2
`, flakyBin, flakyBin, counter)
	h := newHarness(t, y, path)
	h.feed("db", C, C)
	dbInc := h.list(true)[0]
	if _, err := h.eng.Acknowledge(dbInc.ID, "alice", "on my way"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.Acknowledge(dbInc.ID, "bob", ""); err == nil {
		t.Fatal("acknowledged twice")
	}
	h.mu.Lock()
	h.recheck = O
	h.mu.Unlock()
	h.feed("app", C, C)
	h.waitHealing()
	var app incidents.Incident
	for _, inc := range h.list(false) {
		if inc.Check == "app" {
			app = inc
		}
	}
	if app.Resolution != "self-healed" || app.Escalated {
		t.Fatalf("app incident: %+v", app)
	}
	var kinds []string
	for _, ev := range app.Timeline {
		kinds = append(kinds, string(ev.Kind))
	}
	if strings.Join(kinds, ",") != "detected,healing,resolved" {
		t.Fatalf("timeline %v", kinds)
	}
	if app.Timeline[1].Output != "restarted\n" {
		t.Fatalf("action output not captured: %q", app.Timeline[1].Output)
	}
	// Restart the engine on the same file in the middle of db's incident.
	h.eng.Close()
	h.st.Close()
	h2 := newHarness(t, y, path)
	open := h2.list(true)
	if len(open) != 1 || open[0].ID != dbInc.ID || open[0].AckedBy != "alice" {
		t.Fatalf("after restart: %+v", open)
	}
	h2.eng.AddNote(dbInc.ID, "alice", "replaced the disk")
	h2.feed("db", O, O)
	got, _ := h2.eng.Get(dbInc.ID)
	var kinds2 []string
	for _, ev := range got.Timeline {
		kinds2 = append(kinds2, string(ev.Kind))
	}
	if got.State != incidents.Resolved || strings.Join(kinds2, ",") != "detected,technician,acknowledged,note,resolved" {
		t.Fatalf("db after restart: %s %v", got.State, kinds2)
	}
}

func TestFirstFailureIsRecheckedSoon(t *testing.T) {
	h := newHarness(t, "site: s\nchecks:\n  - {id: web, kind: tcp, target: '127.0.0.1:1', interval: 60s}\n", "")
	h.eng.Observe(h.spec("web"), checks.Result{Time: h.clock.Now(), Status: C})
	deadline := time.Now().Add(5 * time.Second)
	for h.clock.Waiters() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.clock.Advance(11 * time.Second) // a fifth of 60 s is 12 s
	time.Sleep(20 * time.Millisecond)
	h.mu.Lock()
	early := h.checked
	h.mu.Unlock()
	h.clock.Advance(2 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		n := h.checked
		h.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if early != 0 || h.checked != 1 {
		t.Fatalf("rechecks: %d before 12 s, %d after", early, h.checked)
	}
}

// TestAttemptsCountAcrossRestart: a daemon restarted in the middle of a
// crash loop does not give the service a fresh set of attempts.
func TestAttemptsCountAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "count")
	path := filepath.Join(dir, "o.db")
	y := fmt.Sprintf(`site: s
healing: {allow_commands: [[%s, count, "*"]], max_attempts: 2, window: 1h}
checks:
  - id: app
    kind: tcp
    target: 127.0.0.1:1
    remediations:
      - {action: command, command: [%s, count, %s]}
`, flakyBin, flakyBin, counter)
	h := newHarness(t, y, path)
	for round := 0; round < 2; round++ {
		h.feed("app", C, C)
		h.waitHealing()
		h.feed("app", O, O)
	}
	h.eng.Close()
	h.st.Close()
	h2 := newHarness(t, y, path)
	h2.clock.Set(h.clock.Now())
	h2.feed("app", C, C)
	h2.waitHealing()
	data, _ := os.ReadFile(counter)
	if n := strings.Count(string(data), "restart"); n != 2 {
		t.Fatalf("%d restarts across a restart of the engine, want 2 (max_attempts)", n)
	}
	open := h2.list(true)
	if len(open) != 1 || !open[0].HealingSuspended || !open[0].Escalated {
		t.Fatalf("after restart: %+v", open)
	}
}

// A box that opened an incident with its clock at 1970 and had it set by
// NTP before the technician acknowledged: time to acknowledge and time
// to resolve are the minutes that passed, not fifty-six years; a step
// back a day in the middle does not make them negative.
func TestClockStepsKeepIncidentDurations(t *testing.T) {
	h := newHarness(t, "site: s\nchecks:\n  - {id: web, kind: tcp, target: '127.0.0.1:1'}\n", "")
	h.clock.JumpTo(time.Unix(300, 0).UTC())
	h.feed("web", C, C) // opens at 1970-01-01 00:07
	open := h.list(true)
	if len(open) != 1 || open[0].Opened.Year() != 1970 {
		t.Fatalf("open incidents %+v", open)
	}
	id := open[0].ID
	h.clock.Advance(3 * time.Minute)
	h.clock.JumpTo(time.Now().Add(-time.Hour)) // NTP: the real date
	h.clock.Advance(2 * time.Minute)
	inc, err := h.eng.Acknowledge(id, "alice", "on my way")
	if err != nil {
		t.Fatal(err)
	}
	if tta := inc.Acked.Sub(inc.Opened); tta != 5*time.Minute {
		t.Fatalf("time to acknowledge %s across a step of 56 years, want 5m", tta)
	}
	last := inc.Timeline[len(inc.Timeline)-2]
	if last.Kind != incidents.Note || !strings.Contains(last.Text, "clock was stepped by +56y") {
		t.Fatalf("timeline does not say the clock stepped: %+v", inc.Timeline)
	}
	h.clock.Jump(-24 * time.Hour)
	h.feed("web", O, O)
	got, err := h.eng.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if got.IsOpen() || got.Resolved.Sub(got.Opened) != 7*time.Minute || got.Acked.Sub(got.Opened) != 5*time.Minute {
		t.Fatalf("resolved %v: opened %s acked %s resolved %s, want 5m to ack and 7m to resolve", !got.IsOpen(), got.Opened, got.Acked, got.Resolved)
	}
	if tl := got.Timeline; !strings.Contains(tl[len(tl)-1].Text, "after 7m0s") {
		t.Fatalf("resolution says %q", tl[len(tl)-1].Text)
	}
	for i := 1; i < len(got.Timeline); i++ {
		if got.Timeline[i].Time.Before(got.Timeline[i-1].Time) {
			t.Fatalf("timeline out of order after the steps: %+v", got.Timeline)
		}
	}
}

// TestSelfHealedOnlyWhenOurActionWorked: "self-healed" means an action of
// ours succeeded and the re-check after it passed. A check that comes
// back after its only action failed, or that recovers later on its own
// after an action whose re-check still failed, is "recovered".
func TestSelfHealedOnlyWhenOurActionWorked(t *testing.T) {
	dir := t.TempDir()
	y := fmt.Sprintf(`site: s
healing: {allow_commands: [[%s, count, "*"]]}
checks:
  - id: app
    kind: tcp
    target: 127.0.0.1:1
    remediations:
      - {action: command, command: [%s, count, %s]}
  - id: db
    kind: tcp
    target: 127.0.0.1:2
    remediations:
      - {action: command, command: [%s, count, %s]}
`, flakyBin, flakyBin, filepath.Join(dir, "no-such-dir", "count"), flakyBin, filepath.Join(dir, "count"))
	h := newHarness(t, y, "")
	resolved := func(check string) incidents.Incident {
		t.Helper()
		for _, inc := range h.list(false) {
			if inc.Check == check && !inc.IsOpen() {
				return inc
			}
		}
		t.Fatalf("no resolved %s incident: %+v", check, h.list(false))
		return incidents.Incident{}
	}
	// app: the action fails (its counter file cannot be created), and the
	// re-check after it finds the service up again.
	h.mu.Lock()
	h.recheck = O
	h.mu.Unlock()
	h.feed("app", C, C)
	h.waitHealing()
	app := resolved("app")
	if app.Resolution != "recovered" || app.SelfHealed() {
		t.Fatalf("app healed by a failed action: resolution %q, timeline %+v", app.Resolution, app.Timeline)
	}
	if tl := app.Timeline; tl[1].Kind != incidents.Healing || tl[1].OK == nil || *tl[1].OK ||
		!strings.Contains(tl[len(tl)-1].Text, "recovered by itself") || tl[len(tl)-1].By != "" {
		t.Fatalf("app timeline: %+v", app.Timeline)
	}
	// db: the action works but the re-check still fails; healing is
	// exhausted, and two ok results later the check is up by itself.
	h.mu.Lock()
	h.recheck = C
	h.mu.Unlock()
	h.feed("db", C, C)
	h.waitHealing()
	h.feed("db", O, O)
	db := resolved("db")
	if db.Resolution != "recovered" || db.SelfHealed() {
		t.Fatalf("db self-healed after its re-check failed: resolution %q, timeline %+v", db.Resolution, db.Timeline)
	}
	if tl := db.Timeline; tl[1].Kind != incidents.Healing || tl[1].OK == nil || !*tl[1].OK {
		t.Fatalf("db's action did not succeed: %+v", db.Timeline)
	}
}

// refusingStore is the store whose incident writes fail, while refuse is
// set, as a full disk fails them. A real full disk fails small commits
// only some of the time (bbolt reuses freed pages), so this seam is
// switched by the test; the whole daemon on a real full file system is
// appliance's TestStoreFullOpensIncident.
type refusingStore struct {
	*store.Store
	refuse atomic.Bool
}

var errDiskFull = &os.PathError{Op: "write", Path: "o.db", Err: syscall.ENOSPC}

func (s *refusingStore) NextIncidentID() (uint64, error) {
	if s.refuse.Load() {
		return 0, errDiskFull
	}
	return s.Store.NextIncidentID()
}

func (s *refusingStore) PutIncident(id uint64, open bool, doc []byte) error {
	if s.refuse.Load() {
		return errDiskFull
	}
	return s.Store.PutIncident(id, open, doc)
}

// TestStoreCannotWriteKeepsIncidents: while the store refuses writes, an
// incident still opens (numbered in memory), is listed, told to the
// subscriber, acknowledged and resolved; once the store writes again it
// is stored as it ended, and the next incident does not reuse its number
// although the store's own count never moved.
func TestStoreCannotWriteKeepsIncidents(t *testing.T) {
	h := newHarness(t, "site: s\nchecks:\n  - {id: web, kind: tcp, target: '127.0.0.1:1'}\n", "")
	rs := &refusingStore{Store: h.st}
	var logs strings.Builder
	h.eng = incidents.New(incidents.Options{Store: rs, Clock: h.clock, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		OnChange: func(inc incidents.Incident, ev incidents.Event) {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		}})
	if err := h.eng.Configure(h.cfg); err != nil {
		t.Fatal(err)
	}
	rs.refuse.Store(true)
	h.feed("web", C, C)
	open := h.list(true)
	if len(open) != 1 || open[0].ID != 1 || open[0].Check != "web" {
		t.Fatalf("open incidents while the store refuses writes: %+v", open)
	}
	if _, ok, _ := h.st.GetIncident(1); ok {
		t.Fatal("the refusing store has the incident")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "kept in memory") {
		t.Fatalf("not logged as an error:\n%s", logs.String())
	}
	if _, err := h.eng.Acknowledge(1, "ann", "on it"); err != nil {
		t.Fatal(err)
	}
	h.feed("web", O, O)
	if got, err := h.eng.Get(1); err != nil || got.IsOpen() || got.AckedBy != "ann" {
		t.Fatalf("incident 1 while unsaved: %+v %v", got, err)
	}
	if all, open := h.list(false), h.list(true); len(all) != 1 || all[0].IsOpen() || len(open) != 0 {
		t.Fatalf("listed while unsaved: all %+v, open %+v", all, open)
	}
	var kinds []string
	h.mu.Lock()
	for _, ev := range h.events {
		kinds = append(kinds, string(ev.Kind))
	}
	h.mu.Unlock()
	if strings.Join(kinds, ",") != "detected,technician,acknowledged,resolved" {
		t.Fatalf("the subscriber was told %v", kinds)
	}
	// The store writes again: the next result writes incident 1 as it
	// ended, and the next incident is number 2.
	rs.refuse.Store(false)
	h.feed("web", O)
	doc, ok, err := h.st.GetIncident(1)
	var saved incidents.Incident
	if err != nil || !ok || json.Unmarshal(doc, &saved) != nil || saved.IsOpen() || saved.AckedBy != "ann" {
		t.Fatalf("incident 1 after the store came back: %s %v %v", doc, ok, err)
	}
	h.feed("web", C, C)
	open = h.list(true)
	if len(open) != 1 || open[0].ID != 2 {
		t.Fatalf("the next incident: %+v, want number 2", open)
	}
	if !strings.Contains(logs.String(), "incident stored again") {
		t.Fatalf("the recovery was not logged:\n%s", logs.String())
	}
}
