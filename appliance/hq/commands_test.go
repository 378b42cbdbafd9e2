package hq_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	"outpost/firmware/identity"
)

func replyOf(t *testing.T, w *httptest.ResponseRecorder) wire.Reply {
	t.Helper()
	var rep wire.Reply
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &rep) != nil {
		t.Fatalf("reply: %d %s", w.Code, w.Body.String())
	}
	return rep
}

func commandIDs(rep wire.Reply) string {
	var ids []uint64
	for _, c := range rep.Commands {
		ids = append(ids, c.ID)
	}
	return fmt.Sprint(ids)
}

// confirming is summary seq listing results for commands ids.
func confirming(t *testing.T, id *identity.Identity, seq uint64, result string, ids ...uint64) []byte {
	t.Helper()
	s := wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: id.ID(), Site: "Acme"}, Seq: seq, Time: time.Now(), Reason: "command", Interval: 60}
	for _, c := range ids {
		s.Commands = append(s.Commands, wire.CommandResult{ID: c, Result: result, Detail: "bundle v12 applied\x1b[2J", Time: time.Now()})
	}
	b, err := wire.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCommandPendingUntilConfirmed: a queued command goes with every
// reply, a duplicate's too, until a summary from the box lists it; then
// it is closed with the box's result and goes no more. Before the fix hq
// dropped it after the first reply, so when that reply was lost the
// box's retry got "duplicate" and nothing else, and hq showed nothing
// pending.
func TestCommandPendingUntilConfirmed(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	h := s.Handler()
	c, err := s.Queue(box.ID(), hq.QueueRequest{Bundle: []byte("signed bundle"), What: "bundle v12 (site Acme)"})
	if err != nil || c.ID != 1 || c.Kind != wire.KindBundle {
		t.Fatalf("queued %+v, %v", c, err)
	}
	first := summary(t, box, 1)
	rep := replyOf(t, post(h, box, box.ID(), 1, first, nil))
	if commandIDs(rep) != "[1]" || string(rep.Commands[0].Bundle) != "signed bundle" {
		t.Fatalf("first reply: %+v", rep)
	}
	// The reply was lost; the box sends summary 1 again.
	rep = replyOf(t, post(h, box, box.ID(), 1, first, nil))
	if !rep.Duplicate || commandIDs(rep) != "[1]" || string(rep.Commands[0].Bundle) != "signed bundle" {
		t.Fatalf("the duplicate's reply does not carry the pending command: %+v", rep)
	}
	b, _, _ := s.Box(box.ID())
	if b.PendingCommands() != 1 || b.Commands[0].Sent != 2 {
		t.Fatalf("box record: %+v", b.Commands)
	}
	rows, _ := s.Fleet()
	if rows[0].Pending != 1 {
		t.Fatalf("fleet row: %+v", rows[0])
	}
	// A summary built before the box handled it: still pending.
	if rep := replyOf(t, post(h, box, box.ID(), 2, summary(t, box, 2), nil)); commandIDs(rep) != "[1]" {
		t.Fatalf("reply to summary 2: %+v", rep)
	}
	// The box's word: done. Its text is made plain.
	if rep := replyOf(t, post(h, box, box.ID(), 3, confirming(t, box, 3, wire.CommandDone, 1, 99), nil)); len(rep.Commands) != 0 {
		t.Fatalf("reply to the confirming summary still carries %s", commandIDs(rep))
	}
	b, _, _ = s.Box(box.ID())
	got := b.Commands[0]
	if b.PendingCommands() != 0 || got.Result != wire.CommandDone || got.Seq != 3 || got.Detail != "bundle v12 applied[2J" || got.Closed.IsZero() {
		t.Fatalf("confirmed command: %+v", got)
	}
	if rep := replyOf(t, post(h, box, box.ID(), 4, summary(t, box, 4), nil)); len(rep.Commands) != 0 {
		t.Fatalf("a confirmed command sent again: %+v", rep)
	}
	s.AddUser("alice", testPassword, false)
	fh := fleet(s, nil)
	page := get(fh, "http://hq.example/boxes/"+box.ID(), login(t, fh, "alice", testPassword)).Body.String()
	if !strings.Contains(page, `data-testid="command-1"`) || !strings.Contains(page, "done, confirmed by summary 3") || !strings.Contains(page, "bundle v12 (site Acme)") {
		t.Fatalf("site page lacks the confirmed command:\n%s", page)
	}
}

// TestOneCommandOfEachKindPending: a newer bundle supersedes the pending
// one (its payload goes), a second inventory request is the first, and
// commands of different kinds go together, oldest first; a command
// carrying nothing, or two things, is refused at queueing.
func TestOneCommandOfEachKindPending(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	b1, _ := s.Queue(box.ID(), hq.QueueRequest{Bundle: []byte("v1")})
	inv, _ := s.Queue(box.ID(), hq.QueueRequest{Inventory: true})
	b2, _ := s.Queue(box.ID(), hq.QueueRequest{Bundle: []byte("v2")})
	inv2, _ := s.Queue(box.ID(), hq.QueueRequest{Inventory: true})
	if inv2.ID != inv.ID || b2.ID != 3 {
		t.Fatalf("ids: bundle %d, inventory %d then %d, bundle %d", b1.ID, inv.ID, inv2.ID, b2.ID)
	}
	rep := replyOf(t, post(s.Handler(), box, box.ID(), 1, summary(t, box, 1), nil))
	if commandIDs(rep) != "[2 3]" || string(rep.Commands[1].Bundle) != "v2" || !rep.Commands[0].Inventory {
		t.Fatalf("reply: %+v", rep)
	}
	b, _, _ := s.Box(box.ID())
	if b.Commands[0].ID != 1 || b.Commands[0].Result != hq.Superseded || b.PendingCommands() != 2 {
		t.Fatalf("commands: %+v", b.Commands)
	}
	for _, req := range []hq.QueueRequest{{}, {Bundle: []byte("x"), Inventory: true}} {
		if _, err := s.Queue(box.ID(), req); err == nil {
			t.Errorf("queued %+v", req)
		}
	}
	if _, err := s.Queue("ob-0000000000000000", hq.QueueRequest{Inventory: true}); err == nil || !strings.Contains(err.Error(), "is registered") {
		t.Errorf("queued for an unknown box: %v", err)
	}
}

// TestOldPendingBecomesCommands: what an hq before command ids queued
// (one unnumbered set in the box record) is pending as commands after
// an upgrade, so it reaches the box the same way.
func TestOldPendingBecomesCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hq.db")
	s, err := hq.Open(path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		bb := tx.Bucket([]byte("boxes"))
		var rec map[string]any
		json.Unmarshal(bb.Get([]byte(box.ID())), &rec)
		rec["pending"] = map[string]any{"bundle": []byte("old bundle"), "inventory": true}
		v, _ := json.Marshal(rec)
		bb.Put([]byte(box.ID()), v)
		return tx.Bucket([]byte("meta")).Put([]byte("layout"), []byte("2"))
	})
	db.Close()
	s, err = hq.Open(path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep := replyOf(t, post(s.Handler(), box, box.ID(), 1, summary(t, box, 1), nil))
	if commandIDs(rep) != "[1 2]" || string(rep.Commands[0].Bundle) != "old bundle" || !rep.Commands[1].Inventory {
		t.Fatalf("reply after the upgrade: %+v", rep)
	}
	if b, _, _ := s.Box(box.ID()); b.OldPending != nil || b.PendingCommands() != 2 {
		t.Fatalf("box record after the upgrade: %+v", b)
	}
}

// TestHistoryShowsWhenReceived: a site's history shows when each summary
// was received, by the receiver's clock, beside when the box built it,
// and marks the summary received after a silence longer than three of
// the box's intervals: a backlog built during an outage arrives at once,
// and the outage shows.
func TestHistoryShowsWhenReceived(t *testing.T) {
	start := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	s := newHQ(t, clk, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	h := s.Handler()
	built := func(seq uint64, at time.Time) []byte {
		b, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: box.ID(), Site: "Acme"}, Seq: seq, Time: at, Reason: "interval", Interval: 60})
		return b
	}
	replyOf(t, post(h, box, box.ID(), 1, built(1, start), nil))
	clk.Advance(time.Minute)
	replyOf(t, post(h, box, box.ID(), 2, built(2, start.Add(time.Minute)), nil))
	// The WAN goes down for two hours; summaries 3 and 4 wait on the box.
	clk.Advance(2 * time.Hour)
	replyOf(t, post(h, box, box.ID(), 3, built(3, start.Add(2*time.Minute)), nil))
	replyOf(t, post(h, box, box.ID(), 4, built(4, start.Add(3*time.Minute)), nil))
	hist, b, ok, err := s.History(box.ID(), 10)
	if err != nil || !ok || len(hist) != 4 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	back := start.Add(2*time.Hour + time.Minute)
	if !hist[1].Received.Equal(back) || !hist[1].Built.Equal(start.Add(2*time.Minute)) || hist[1].SilentBefore != 2*time.Hour ||
		hist[0].SilentBefore != 0 || hist[2].SilentBefore != 0 || !b.LastStored.Equal(back) {
		t.Fatalf("history: %+v, last stored %v", hist, b.LastStored)
	}
	// The newest n rows judge their oldest against the one before it.
	if short, _, _, _ := s.History(box.ID(), 2); len(short) != 2 || short[1].SilentBefore != 2*time.Hour {
		t.Fatalf("2 newest: %+v", short)
	}
	s.AddUser("alice", testPassword, false)
	fh := fleet(s, clk)
	cookies := login(t, fh, "alice", testPassword)
	page := get(fh, "http://hq.example/boxes/"+box.ID(), cookies).Body.String()
	if strings.Count(page, `data-testid="silence"`) != 1 || !strings.Contains(page, "after 2h0m0s silent") || !strings.Contains(page, "2026-11-24 11:01:00") {
		t.Fatalf("site page:\n%s", page)
	}
	if page := get(fh, "http://hq.example/", cookies).Body.String(); !strings.Contains(page, `data-testid="last-stored">2026-11-24 11:01:00 UTC`) {
		t.Fatalf("fleet page lacks the last summary received:\n%s", page)
	}
}
