package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/incident"
	"outpost/notify"
	"outpost/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness is an engine on a fake clock over a real bbolt file.
type harness struct {
	fc *clock.Fake
	st *store.Store
	e  *notify.Engine
}

func newHarness(t *testing.T, chs map[string]notify.Channel, o notify.Options) *harness {
	t.Helper()
	h := &harness{fc: clock.NewFake(t0)}
	h.st = openStore(t, filepath.Join(t.TempDir(), "o.db"), h.fc)
	t.Cleanup(func() { h.st.Close() })
	o.Outbox, o.Clock, o.Log, o.Channels = notify.NewOutbox(h.st), h.fc, quiet, chs
	e, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

func (h *harness) step(d time.Duration) {
	h.fc.Advance(d)
	h.e.Tick()
	h.e.Deliver(context.Background())
}

// TestOnCallResolvedAtSendTime: the first message goes to whoever is on
// call then; a reminder after the weekly handover goes to the next
// person; an override wins while it lasts; the resolved message reaches
// everybody who was actually notified.
func TestOnCallResolvedAtSendTime(t *testing.T) {
	alice, bob, carol := newReceiver(t), newReceiver(t), newReceiver(t)
	chs := channels(t, "  channels:\n    - {name: alice-hook, kind: webhook, options: {url: '"+alice.srv.URL+"'}}\n    - {name: bob-hook, kind: webhook, options: {url: '"+bob.srv.URL+"'}}\n    - {name: carol-hook, kind: webhook, options: {url: '"+carol.srv.URL+"'}}\n")
	handover := t0.Add(-7*24*time.Hour + 2*time.Hour) // alice's week ends 2 h after t0
	rot := notify.OnCall{Name: "primary", Handover: handover, Rotation: []string{"alice", "bob"},
		Overrides: []notify.Override{{Start: t0.Add(4 * time.Hour), End: t0.Add(5 * time.Hour), Person: "carol"}}}
	if rot.Who(t0) != "alice" || rot.Who(t0.Add(3*time.Hour)) != "bob" || rot.Who(t0.Add(4*time.Hour)) != "carol" || rot.Who(t0.Add(7*24*time.Hour+3*time.Hour)) != "alice" || rot.Who(handover.Add(-time.Minute)) != "bob" {
		t.Fatal("rotation arithmetic")
	}
	h := newHarness(t, chs, notify.Options{
		People:   map[string][]string{"alice": {"alice-hook"}, "bob": {"bob-hook"}, "carol": {"carol-hook"}},
		OnCalls:  []notify.OnCall{rot},
		Policies: []notify.Policy{{Name: "p", Repeat: 90 * time.Minute, Steps: []notify.Step{{Channels: []string{"oncall:primary"}}}}},
	})
	h.e.Opened(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 1, Check: "wan", Device: "router", Severity: "critical", Opened: t0, Summary: "no route"}})
	h.step(0)
	h.step(90 * time.Minute) // 1:30 alice still
	h.step(90 * time.Minute) // 3:00 bob took over at 2:00
	h.step(90 * time.Minute) // 4:30 carol's override
	h.step(90 * time.Minute) // 6:00 bob again
	if alice.kinds() != "opened,reminder" || bob.kinds() != "reminder,reminder" || carol.kinds() != "reminder" {
		t.Fatalf("alice %q bob %q carol %q", alice.kinds(), bob.kinds(), carol.kinds())
	}
	h.e.Resolved(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 1, Check: "wan", Device: "router", Severity: "critical", Opened: t0, Resolved: at(h.fc.Now()), Summary: "no route"}}, 0)
	h.step(0)
	for name, r := range map[string]*receiver{"alice": alice, "bob": bob, "carol": carol} {
		r.mu.Lock()
		last := r.msgs[len(r.msgs)-1]
		r.mu.Unlock()
		if last.Kind != "resolved" || !strings.Contains(last.Summary, "resolved after 6h0m0s") {
			t.Errorf("%s last got %+v", name, last)
		}
	}
}

// TestRepeatBySeverityAndMaintenance: critical reminds every 5 min,
// warning every hour; an incident that enters maintenance goes quiet.
func TestRepeatBySeverityAndMaintenance(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n"), notify.Options{
		Policies: []notify.Policy{{Name: "p", Repeat: time.Hour, RepeatBySeverity: map[checks.Severity]time.Duration{"critical": 5 * time.Minute}, Steps: []notify.Step{{Channels: []string{"a"}}}}},
	})
	crit := notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 1, Check: "db", Device: "db01", Severity: "critical", Opened: t0, Summary: "down"}}
	h.e.Opened(crit)
	h.e.Opened(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 2, Check: "disk", Device: "fs1", Severity: "warning", Opened: t0, Summary: "91% used"}})
	h.step(0)
	for i := 0; i < 12; i++ {
		h.step(5 * time.Minute)
	}
	count := func(id uint64) (n int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, m := range r.msgs {
			if m.Incident == id {
				n++
			}
		}
		return n
	}
	if count(1) != 13 || count(2) != 2 {
		t.Fatalf("critical %d (want 13), warning %d (want 2)", count(1), count(2))
	}
	crit.InMaintenance = true
	h.e.Updated(crit)
	h.step(time.Hour)
	if count(1) != 13 {
		t.Fatalf("reminded during maintenance: %d", count(1))
	}
}

// TestHealingHoldAndSelfHealedInfo: while healing still tries, the first
// message waits; healed in time, the policy's info message goes out
// instead of an alarm, and a policy without self_healed_info says
// nothing. A stuck healing flag cannot hold the alarm past the grace.
func TestHealingHoldAndSelfHealedInfo(t *testing.T) {
	r := newReceiver(t)
	chs := channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n")
	h := newHarness(t, chs, notify.Options{Policies: []notify.Policy{
		{Name: "servers", Groups: []string{"servers"}, SelfHealedInfo: true, HealingGrace: 5 * time.Minute, Steps: []notify.Step{{Channels: []string{"a"}}}},
		{Name: "rest", Steps: []notify.Step{{Channels: []string{"a"}}}},
	}})
	svc := notify.Incident{Site: "Acme", HealingPending: true, Incident: incident.Incident{ID: 1, Check: "spooler", Device: "srv1", Group: "servers", Severity: "critical", Opened: t0, Summary: "service stopped"}}
	h.e.Opened(svc)
	h.step(time.Minute)
	if r.kinds() != "" {
		t.Fatalf("alarm while healing tries: %q", r.kinds())
	}
	svc.HealingPending, svc.Resolution, svc.Timeline = false, incident.SelfHealed, []incident.Event{{Kind: incident.Healing, Text: "restart service spooler: ok"}}
	h.e.Resolved(svc, 2*time.Minute)
	h.step(0)
	r.mu.Lock()
	if r.kinds2() != "self-healed" || r.msgs[0].AckURL != "" || !strings.Contains(r.msgs[0].Summary, "self-healed after 2m0s") || r.msgs[0].Healing[0] != "restart service spooler: ok" {
		t.Fatalf("info: %+v", r.msgs)
	}
	r.mu.Unlock()
	// The "rest" policy has no info message.
	pc := notify.Incident{Site: "Acme", HealingPending: true, Incident: incident.Incident{ID: 2, Check: "pc", Device: "pc1", Severity: "warning", Opened: h.fc.Now(), Summary: "down"}}
	h.e.Opened(pc)
	pc.Resolution = incident.SelfHealed
	h.e.Resolved(pc, time.Minute)
	h.step(0)
	// Healing that never reports back: the alarm goes out at the grace.
	stuck := svc
	stuck.ID, stuck.Opened, stuck.Resolution, stuck.HealingPending = 3, h.fc.Now(), "", true
	h.e.Opened(stuck)
	h.step(4 * time.Minute)
	if r.kinds() != "self-healed" {
		t.Fatalf("before the grace: %q", r.kinds())
	}
	h.step(time.Minute)
	if r.kinds() != "self-healed,opened" {
		t.Fatalf("after the grace: %q", r.kinds())
	}
}

func (r *receiver) kinds2() string {
	var k []string
	for _, m := range r.msgs {
		k = append(k, m.Kind)
	}
	return strings.Join(k, ",")
}

// TestRetryAfterAndGivingUp: a 429 with Retry-After waits exactly that
// long; a message that cannot get through for MaxAge is given up and
// logged as final.
func TestRetryAfterAndGivingUp(t *testing.T) {
	var calls []time.Time
	var fc *clock.Fake
	status := http.StatusTooManyRequests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		calls = append(calls, fc.Now())
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(status)
	}))
	defer srv.Close()
	h := newHarness(t, channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+srv.URL+"'}}\n"), notify.Options{
		MaxAge:   10 * time.Minute,
		Policies: []notify.Policy{{Name: "p", Steps: []notify.Step{{Channels: []string{"a"}}}}},
	})
	fc = h.fc
	h.e.Opened(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 1, Check: "db", Device: "db01", Severity: "critical", Opened: t0, Summary: "down"}})
	h.step(0)
	h.step(119 * time.Second)
	if len(calls) != 1 {
		t.Fatalf("retried before Retry-After: %d calls", len(calls))
	}
	h.step(time.Second)
	if len(calls) != 2 || calls[1].Sub(calls[0]) != 2*time.Minute {
		t.Fatalf("calls %v", calls)
	}
	status = http.StatusServiceUnavailable
	for i := 0; i < 10; i++ {
		h.step(2 * time.Minute)
	}
	if left, _ := notify.NewOutbox(h.st).Pending(); len(left) != 0 {
		t.Fatalf("still queued after MaxAge: %+v", left)
	}
	var last notify.LogEntry
	h.st.NotifyLogList(func(doc []byte) bool { json.Unmarshal(doc, &last); return false })
	if !last.Final || last.OK || !strings.Contains(last.Answer, "gave up after") || last.Result() != "FAILED (gave up)" || last.Recipient == "" {
		t.Fatalf("last log entry %+v", last)
	}
}

// TestAckHandler: the link shows the incident on GET without acting,
// acknowledges once on POST, and refuses replay, forgery, another
// incident's signature and expiry.
func TestAckHandler(t *testing.T) {
	fc := clock.NewFake(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)
	defer st.Close()
	secret := []byte("box-secret-for-ack-links-000000")
	var acked []string
	h := &notify.AckHandler{Secret: secret, Clock: fc, Used: st,
		Describe: func(id uint64) (string, string, bool, error) {
			return "Incident " + itoa(id), "db on db01 is down", len(acked) == 0, nil
		},
		Ack: func(id uint64, by string) error { acked = append(acked, itoa(id)+":"+by); return nil },
	}
	mux := http.NewServeMux()
	mux.Handle("/ack/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok := notify.MakeAckToken(secret, 42, t0.Add(72*time.Hour))
	get := func(tok string) (int, string) {
		resp, err := http.Get(srv.URL + "/ack/" + tok)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(tok string) (int, string) {
		resp, err := http.PostForm(srv.URL+"/ack/"+tok, url.Values{"by": {"alice"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, page := get(tok); code != 200 || !strings.Contains(page, `data-testid="ack-button"`) || len(acked) != 0 {
		t.Fatalf("GET: %d %s (acked %v)", code, page, acked)
	}
	if code, page := post(tok); code != 200 || !strings.Contains(page, "Acknowledged") || len(acked) != 1 || acked[0] != "42:alice (via link)" {
		t.Fatalf("POST: %d %s %v", code, page, acked)
	}
	if code, page := post(tok); code != 403 || !strings.Contains(page, "used already") || len(acked) != 1 {
		t.Fatalf("replay: %d %s", code, page)
	}
	other := notify.MakeAckToken([]byte("another box's secret"), 43, t0.Add(time.Hour))
	if code, _ := post(other); code != 403 || len(acked) != 1 {
		t.Fatalf("forged token: %d", code)
	}
	// The signature of 42's token on incident 43.
	spliced := []byte(tok)
	fresh43 := notify.MakeAckToken(secret, 43, t0.Add(72*time.Hour))
	copy(spliced[:11], fresh43[:11]) // first 8 bytes (the id) live in the first 11 characters
	if string(spliced) == tok {
		t.Fatal("splice did nothing")
	}
	if code, _ := post(string(spliced)); code != 403 || len(acked) != 1 {
		t.Fatalf("spliced token: %d", code)
	}
	short := notify.MakeAckToken(secret, 44, t0.Add(time.Hour))
	fc.Advance(2 * time.Hour)
	if code, page := post(short); code != 403 || !strings.Contains(page, "expired") || len(acked) != 1 {
		t.Fatalf("expired: %d %s", code, page)
	}
	if fresh, _ := st.UseToken("x", t0); !fresh {
		t.Fatal("unused token not fresh")
	}
}

func itoa(id uint64) string { return strconv.FormatUint(id, 10) }

// TestStoreLogRetentionAndTokens: the delivery log drops attempts older
// than 90 days as new ones come in; used-token records outlive nothing
// but their expiry.
func TestStoreLogRetentionAndTokens(t *testing.T) {
	fc := clock.NewFake(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)
	defer st.Close()
	st.NotifyLogAdd([]byte(`{"answer":"old"}`))
	fc.Advance(store.NotifyLogRetention - time.Hour)
	st.NotifyLogAdd([]byte(`{"answer":"recent"}`))
	fc.Advance(2 * time.Hour)
	st.NotifyLogAdd([]byte(`{"answer":"new"}`))
	var got []string
	st.NotifyLogList(func(doc []byte) bool { got = append(got, string(doc)); return true })
	if strings.Join(got, ",") != `{"answer":"new"},{"answer":"recent"}` {
		t.Fatalf("log %v", got)
	}
	if fresh, _ := st.UseToken("a", fc.Now().Add(time.Hour)); !fresh {
		t.Fatal("first use refused")
	}
	if fresh, _ := st.UseToken("a", fc.Now().Add(time.Hour)); fresh {
		t.Fatal("second use accepted")
	}
	if fresh, _ := st.UseOnce("a"); fresh {
		t.Fatal("UseOnce accepted a used token")
	}
}

// TestClockStepsKeepReminderAndEscalationDelays: a box without RTC whose
// clock NTP steps by years either way in the middle of an incident still
// reminds every 10 minutes and escalates 30 minutes after opening, and a
// message waiting for its retry keeps its place.
func TestClockStepsKeepReminderAndEscalationDelays(t *testing.T) {
	a, b := newReceiver(t), newReceiver(t)
	h := newHarness(t, channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+a.srv.URL+"'}}\n    - {name: b, kind: webhook, options: {url: '"+b.srv.URL+"'}}\n"), notify.Options{
		Policies: []notify.Policy{{Name: "p", Repeat: 10 * time.Minute, Steps: []notify.Step{{Channels: []string{"a"}}, {After: 30 * time.Minute, Channels: []string{"b"}}}}},
	})
	h.e.Opened(notify.Incident{Site: "Acme", Incident: incident.Incident{ID: 1, Check: "db", Device: "db01", Severity: "critical", Opened: t0, Summary: "down"}})
	h.step(0)
	if a.kinds() != "opened" {
		t.Fatalf("a got %q at open", a.kinds())
	}
	h.step(5 * time.Minute)
	h.fc.Jump(10 * 365 * 24 * time.Hour) // forward ten years
	h.step(0)
	h.step(4 * time.Minute)
	if a.kinds() != "opened" || b.kinds() != "" {
		t.Fatalf("a step forward of 10 years fired early: a %q b %q", a.kinds(), b.kinds())
	}
	h.step(time.Minute) // 10 min after open
	if a.kinds() != "opened,reminder" {
		t.Fatalf("reminder due 10 min after open: a %q", a.kinds())
	}
	h.fc.JumpTo(time.Unix(0, 0).UTC()) // back to 1970
	h.step(0)
	h.step(10 * time.Minute) // 20 min
	if a.kinds() != "opened,reminder,reminder" {
		t.Fatalf("a step back to 1970 stalled the reminder: a %q", a.kinds())
	}
	h.fc.Jump(-24 * time.Hour)
	h.step(0)
	h.step(9 * time.Minute)
	if b.kinds() != "" {
		t.Fatalf("escalated before 30 min: b %q", b.kinds())
	}
	h.step(time.Minute) // 30 min
	if b.kinds() != "escalated" {
		t.Fatalf("escalation step due 30 min after open: b %q", b.kinds())
	}
}

func at(t time.Time) *time.Time { return &t }

// TestStatesSavedBeforeTheSharedModel: notification states saved by the
// version whose notify had its own incident type (Go field names, times
// by value, healing as lines) still remind after an upgrade, with their
// healing lines and status, and stay quiet when they were acknowledged
// or in maintenance.
func TestStatesSavedBeforeTheSharedModel(t *testing.T) {
	type oldIncident struct {
		ID                                                    uint64
		Site, Device, Check, Group, Severity, Status, Summary string
		Labels                                                map[string]string
		Parent                                                string
		Opened, Acked                                         time.Time
		AckedBy                                               string
		Resolved                                              time.Time
		Resolution                                            string
		Healing                                               []string
		HealingPending, InMaintenance, Flapping, SelfHealed   bool
	}
	type oldState struct {
		Inc      oldIncident `json:"inc"`
		Policy   string      `json:"policy"`
		Fired    int         `json:"fired"`
		Targets  []string    `json:"targets"`
		Notified []string    `json:"notified"`
		LastSent time.Time   `json:"last_sent"`
		Thread   string      `json:"thread"`
	}
	r := newReceiver(t)
	fc := clock.NewFake(t0)
	st := openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)
	defer st.Close()
	docs := map[uint64][]byte{}
	for _, inc := range []oldIncident{
		{ID: 1, Site: "Acme", Device: "db01", Check: "db", Severity: "critical", Status: "critical", Summary: "down", Opened: t0, Healing: []string{"restart service db: failed"}},
		{ID: 2, Site: "Acme", Device: "fs1", Check: "disk", Severity: "warning", Status: "warning", Summary: "91% used", Opened: t0, Acked: t0.Add(time.Minute), AckedBy: "ann"},
		{ID: 3, Site: "Acme", Device: "pc1", Check: "pc", Severity: "critical", Status: "critical", Summary: "down", Opened: t0, InMaintenance: true},
	} {
		docs[inc.ID], _ = json.Marshal(oldState{Inc: inc, Policy: "p", Fired: 1, Targets: []string{"a"}, Notified: []string{"a"}, LastSent: t0, Thread: "th" + strconv.FormatUint(inc.ID, 10)})
	}
	if err := notify.NewOutbox(st).Commit(nil, docs); err != nil {
		t.Fatal(err)
	}
	e, err := notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Log: quiet, Channels: channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n"),
		Policies: []notify.Policy{{Name: "p", Repeat: 10 * time.Minute, Steps: []notify.Step{{Channels: []string{"a"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	fc.Advance(10 * time.Minute)
	e.Tick()
	e.Deliver(context.Background())
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 1 {
		t.Fatalf("want one reminder (incident 1), got %+v", r.msgs)
	}
	m := r.msgs[0]
	if m.Kind != "reminder" || m.Incident != 1 || m.Status != "critical" || m.Severity != "critical" || m.Thread != "th1" || len(m.Healing) != 1 || m.Healing[0] != "restart service db: failed" || !m.Since.Equal(t0) {
		t.Fatalf("reminder %+v", m)
	}
}

// fullDisk is the store whose notification writes fail, while full is
// set, as a full disk fails them. A real full disk fails small commits
// only some of the time (bbolt reuses the pages the previous commit
// freed), so this seam is switched by the test; the whole daemon on a
// real full file system is appliance's TestStoreFullOpensIncident.
type fullDisk struct {
	*store.Store
	full atomic.Bool
}

var errDiskFull = &os.PathError{Op: "write", Path: "o.db", Err: syscall.ENOSPC}

func (d *fullDisk) NotifyCommit(states map[uint64][]byte, n int, encode func(int, uint64) []byte) error {
	if d.full.Load() {
		return errDiskFull
	}
	return d.Store.NotifyCommit(states, n, encode)
}

func (d *fullDisk) NotifyAttempt(seq uint64, doc, logDoc []byte) error {
	if d.full.Load() {
		return errDiskFull
	}
	return d.Store.NotifyAttempt(seq, doc, logDoc)
}

func (d *fullDisk) OutboxRewrite(fn func([]byte) []byte) error {
	if d.full.Load() {
		return errDiskFull
	}
	return d.Store.OutboxRewrite(fn)
}

// TestOutboxCannotWriteDeliversFromMemory: while the store cannot write,
// a message whose outbox commit failed is still delivered, from memory,
// once (its delivery is not recorded, and it is not sent again every
// second), a failed attempt waits its backoff, reminders follow the
// state, and a "resolved" never overtakes an "opened" still queued on
// disk. Once the store writes again, the states and the delivery log are
// saved and the outbox holds nothing delivered.
func TestOutboxCannotWriteDeliversFromMemory(t *testing.T) {
	r := newReceiver(t)
	fc := clock.NewFake(t0)
	disk := &fullDisk{Store: openStore(t, filepath.Join(t.TempDir(), "o.db"), fc)}
	defer disk.Close()
	var logs strings.Builder
	e, err := notify.New(notify.Options{Outbox: notify.NewOutbox(disk), Clock: fc, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Channels: channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n"),
		Policies: []notify.Policy{{Name: "p", Repeat: 10 * time.Minute, Steps: []notify.Step{{Channels: []string{"a"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration) {
		fc.Advance(d)
		e.Tick()
		e.Deliver(context.Background())
	}
	inc := func(id uint64) notify.Incident {
		return notify.Incident{Site: "Acme", Incident: incident.Incident{ID: id, Check: "db", Device: "db01", Severity: "critical", Opened: fc.Now(), Summary: "down"}}
	}
	disk.full.Store(true)
	e.Opened(inc(1))
	step(0)
	for i := 0; i < 5; i++ {
		step(time.Second)
	}
	if k := r.kinds(); k != "opened" {
		t.Fatalf("while the outbox cannot be written: %q, want one opened message", k)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "no space left on device") {
		t.Fatalf("the failing outbox was not logged as an error:\n%s", logs.String())
	}
	step(10 * time.Minute)
	if k := r.kinds(); k != "opened,reminder" {
		t.Fatalf("the reminder after 10m: %q", k)
	}
	// A failed attempt waits its backoff (at least a second), in memory.
	r.mu.Lock()
	r.status = 503
	r.mu.Unlock()
	step(10 * time.Minute)
	step(500 * time.Millisecond)
	if k := r.kinds(); k != "opened,reminder,reminder" {
		t.Fatalf("a failed attempt was retried at once: %q", k)
	}
	r.mu.Lock()
	r.status = 200
	r.mu.Unlock()
	step(15 * time.Second)
	if k := r.kinds(); k != "opened,reminder,reminder,reminder" {
		t.Fatalf("the retry after its backoff: %q", k)
	}
	// Space returns: what was held is written.
	disk.full.Store(false)
	step(time.Second)
	if left, _ := notify.NewOutbox(disk.Store).Pending(); len(left) != 0 {
		t.Fatalf("delivered messages left in the outbox: %+v", left)
	}
	states, _ := disk.NotifyStates()
	var st struct {
		Fired    int      `json:"fired"`
		Notified []string `json:"notified"`
	}
	if json.Unmarshal(states[1], &st) != nil || st.Fired != 1 || len(st.Notified) != 1 {
		t.Fatalf("state after the store came back: %s", states[1])
	}
	n := 0
	disk.NotifyLogList(func([]byte) bool { n++; return true })
	if n != 4 {
		t.Fatalf("%d delivery log entries after the store came back, want 4 (opened, a reminder, a failed one, its retry)", n)
	}
	if !strings.Contains(logs.String(), "notification outbox written again") {
		t.Fatalf("the recovery was not logged:\n%s", logs.String())
	}

	// Order: incident 2's opened is on disk, retrying; its resolved
	// cannot be written and is held: it goes second.
	r.mu.Lock()
	r.status, r.msgs = 503, nil
	r.mu.Unlock()
	two := inc(2)
	e.Opened(two)
	step(0)
	disk.full.Store(true)
	two.State, two.Resolved = incident.Resolved, at(fc.Now())
	e.Resolved(two, 0)
	r.mu.Lock()
	r.status = 200
	r.mu.Unlock()
	for i := 0; i < 12 && r.kinds() != "opened,opened,resolved"; i++ {
		step(3 * time.Second)
	}
	if k := r.kinds(); k != "opened,opened,resolved" {
		t.Fatalf("incident 2: %q, want its opened (failed once, then delivered) before its resolved", k)
	}
}

// TestReconcileAtStart: the notification state saved by one run is
// brought in line with the incidents as stored when the next run starts.
// An open incident never notified is notified; one acknowledged before
// anybody was told, or in maintenance, is not; one resolved while its
// state still reminded gets its resolved message to whoever was told and
// reminds no more; a state whose incident does not exist is dropped; an
// open one acknowledged meanwhile stops reminding.
func TestReconcileAtStart(t *testing.T) {
	r := newReceiver(t)
	fc := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "o.db")
	st := openStore(t, path, fc)
	defer st.Close()
	chs := channels(t, "  channels:\n    - {name: a, kind: webhook, options: {url: '"+r.srv.URL+"'}}\n")
	pol := []notify.Policy{{Name: "p", Repeat: 10 * time.Minute, Steps: []notify.Step{{Channels: []string{"a"}}}}}
	start := func() *notify.Engine {
		e, err := notify.New(notify.Options{Outbox: notify.NewOutbox(st), Clock: fc, Log: quiet, Channels: chs, Policies: pol})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	inc := func(id uint64, check string) notify.Incident {
		return notify.Incident{Site: "Acme", Incident: incident.Incident{ID: id, Check: check, Device: "d", Severity: "critical", State: incident.Open, Opened: t0, Summary: check + " down"}}
	}
	// The first run told everybody about 3, 4 and 6.
	first := start()
	for _, id := range []uint64{3, 4, 6} {
		first.Opened(inc(id, fmt.Sprint("c", id)))
	}
	first.Tick()
	first.Deliver(context.Background())
	if k := r.kinds(); k != "opened,opened,opened" {
		t.Fatalf("first run: %q", k)
	}
	r.mu.Lock()
	r.msgs = nil
	r.mu.Unlock()
	// What the incident engine stored before the kill.
	acked := at(t0.Add(time.Minute))
	one, two, five, six := inc(1, "c1"), inc(2, "c2"), inc(5, "c5"), inc(6, "c6")
	two.State, two.Acked, two.AckedBy = incident.Acknowledged, acked, "ann"
	five.InMaintenance = true
	six.State, six.Acked, six.AckedBy = incident.Acknowledged, acked, "ann"
	three := inc(3, "c3")
	three.State, three.Resolved, three.Resolution = incident.Resolved, at(t0.Add(2*time.Minute)), incident.ResolvedByItself
	stored := map[uint64]notify.Incident{3: three}
	fc.Advance(5 * time.Minute)
	e := start()
	err := e.Reconcile([]notify.Incident{one, two, five, six}, func(id uint64) (notify.Incident, bool, error) {
		i, ok := stored[id]
		return i, ok, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Tick()
	e.Deliver(context.Background())
	got := map[uint64]string{}
	r.mu.Lock()
	for _, m := range r.msgs {
		got[m.Incident] += m.Kind
		if m.Kind == "resolved" && !strings.Contains(m.Summary, "resolved after 2m0s (recovered)") {
			t.Errorf("resolved message says %q", m.Summary)
		}
	}
	r.mu.Unlock()
	if len(got) != 2 || got[1] != "opened" || got[3] != "resolved" {
		t.Fatalf("after reconciling: %v, want incident 1 opened and 3 resolved", got)
	}
	states, _ := st.NotifyStates()
	if _, ok := states[4]; ok || states[3] != nil || states[1] == nil || states[6] == nil || states[2] != nil || states[5] != nil {
		t.Fatalf("states after reconciling: %v", slices.Sorted(maps.Keys(states)))
	}
	// Nothing reminds about 3 (resolved) or 6 (acknowledged); 1 does.
	r.mu.Lock()
	r.msgs = nil
	r.mu.Unlock()
	for i := 0; i < 3; i++ {
		fc.Advance(10 * time.Minute)
		e.Tick()
		e.Deliver(context.Background())
	}
	if k := r.kinds(); k != "reminder,reminder,reminder" {
		t.Fatalf("reminders after reconciling: %q, want three for incident 1 only", k)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.Incident != 1 {
			t.Fatalf("a reminder for incident %d", m.Incident)
		}
	}
}
