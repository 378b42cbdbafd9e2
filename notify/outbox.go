package notify

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Item is one message for one channel in the outbox.
type Item struct {
	Seq      uint64    `json:"seq"`
	Channel  string    `json:"channel"`
	Message  Message   `json:"message"`
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
	Next     time.Time `json:"next"`
	// group is the grouping key while a tick builds its messages.
	group string
	// mem numbers a message held in memory because the outbox could not
	// be written (see held); 0 for one read from the outbox.
	mem uint64
}

// LogEntry records one delivery attempt.
type LogEntry struct {
	Time      time.Time `json:"time"`
	Channel   string    `json:"channel"`
	Recipient string    `json:"recipient,omitempty"`
	Message   string    `json:"message"`
	Incident  uint64    `json:"incident"`
	Kind      string    `json:"kind"`
	Attempt   int       `json:"attempt"`
	OK        bool      `json:"ok"`
	Final     bool      `json:"final"` // delivered, or given up
	Answer    string    `json:"answer"`
}

// Result is the log's one-word verdict on an attempt.
func (e LogEntry) Result() string {
	switch {
	case e.OK:
		return "sent"
	case e.Final:
		return "FAILED (gave up)"
	}
	return "failed, will retry"
}

// Outbox persists queued messages, the delivery log and each incident's
// notification state (bbolt in the daemon). Commit is durable before it
// returns and writes states and messages together, so a crash cannot
// leave a step marked done without its messages queued (lost) or queued
// twice (duplicated). An item stays until an Attempt marks it done, so a
// crash between sending and recording sends it again with the same
// message id (at least once; receivers drop duplicates by that id).
type Outbox interface {
	// Commit queues items (setting their Seq) and saves incident states
	// (a nil document deletes one), in one transaction.
	Commit(items []Item, states map[uint64][]byte) error
	// Pending lists queued items, oldest first.
	Pending() ([]Item, error)
	// Attempt logs e and, in the same transaction, removes the item
	// (done) or stores its new retry count and time. An item with Seq 0
	// was never queued (it was delivered from memory): only e is logged.
	Attempt(it Item, done bool, e LogEntry) error
	// LoadStates returns every saved incident state.
	LoadStates() (map[uint64][]byte, error)
	// Shift moves every queued item's creation and retry times by d, in
	// one transaction: the wall clock was stepped by d, and a retry due
	// in a minute must stay a minute away (docs/time.md).
	Shift(d time.Duration) error
}

// DocStore is the persistence an Outbox needs, as JSON documents; the
// daemon's bbolt store implements it (store/notify.go).
type DocStore interface {
	// NotifyCommit saves states (nil deletes) and queues n documents in
	// one transaction; encode gives document i with its sequence number.
	NotifyCommit(states map[uint64][]byte, n int, encode func(i int, seq uint64) []byte) error
	// OutboxList calls fn for each queued document, oldest first.
	OutboxList(fn func(seq uint64, doc []byte)) error
	// NotifyAttempt appends logDoc to the delivery log and replaces the
	// queued document seq with doc (nil removes it), in one transaction;
	// seq 0 (a message that was never queued) writes the log entry only.
	NotifyAttempt(seq uint64, doc, logDoc []byte) error
	// NotifyStates returns every saved state.
	NotifyStates() (map[uint64][]byte, error)
	// OutboxRewrite replaces each queued document by fn's result, in one
	// transaction.
	OutboxRewrite(fn func(doc []byte) []byte) error
}

// NewOutbox makes an Outbox over a DocStore.
func NewOutbox(s DocStore) Outbox { return docOutbox{s} }

type docOutbox struct{ s DocStore }

func (o docOutbox) Commit(items []Item, states map[uint64][]byte) error {
	return o.s.NotifyCommit(states, len(items), func(i int, seq uint64) []byte {
		items[i].Seq = seq
		doc, _ := json.Marshal(items[i]) // plain data: cannot fail
		return doc
	})
}

func (o docOutbox) Pending() ([]Item, error) {
	var out []Item
	err := o.s.OutboxList(func(seq uint64, doc []byte) {
		var it Item
		if json.Unmarshal(doc, &it) == nil {
			it.Seq = seq
			out = append(out, it)
		}
	})
	return out, err
}

func (o docOutbox) Attempt(it Item, done bool, e LogEntry) error {
	logDoc, _ := json.Marshal(e)
	var doc []byte
	if !done {
		doc, _ = json.Marshal(it)
	}
	return o.s.NotifyAttempt(it.Seq, doc, logDoc)
}

func (o docOutbox) LoadStates() (map[uint64][]byte, error) { return o.s.NotifyStates() }

func (o docOutbox) Shift(d time.Duration) error {
	return o.s.OutboxRewrite(func(doc []byte) []byte {
		var it Item
		if json.Unmarshal(doc, &it) != nil {
			return doc // not ours to judge: Pending skips it too
		}
		it.Created, it.Next = it.Created.Add(d), it.Next.Add(d)
		out, _ := json.Marshal(it)
		return out
	})
}

// maxHeldRecords bounds the delivery attempts kept in memory while the
// outbox cannot be written; past it the oldest log-only ones go (the
// message states are kept).
const maxHeldRecords = 10_000

// held is the engine's view of its Outbox: every call goes to the outbox,
// and what the outbox could not write (the store's disk is full or
// failing) is held in memory instead of being dropped. Messages whose
// Commit failed are delivered from memory; attempts whose record failed
// count as done or rescheduled all the same, so a delivered message is
// not sent again every second. The next write that succeeds (the engine
// retries every tick) saves what was held first, in order: held messages
// are always newer than everything in the outbox, so a channel's order
// holds. A crash while something is held loses it, as the store lost the
// write.
type held struct {
	inner Outbox
	log   *slog.Logger

	mu      sync.Mutex
	items   []Item            // messages not in the outbox, oldest first
	states  map[uint64][]byte // incident states not saved (nil: delete)
	records []heldRecord      // attempts not recorded, in order
	shift   time.Duration     // a clock step the outbox's times still miss
	memSeq  uint64
	// flushed maps a held message (Item.mem) to its outbox sequence once
	// saved, for a delivery of it that was in flight then. Pending, the
	// start of a delivery round, forgets the previous round's.
	flushed map[uint64]uint64
	// failing is the last write error, "" while writes succeed.
	failing string
	dropped int
}

// heldRecord is a delivery attempt not yet recorded: its log entry and,
// for a message in the outbox (Seq set), its new state.
type heldRecord struct {
	item  Item
	done  bool
	entry LogEntry
}

func newHeld(inner Outbox, log *slog.Logger) *held {
	return &held{inner: inner, log: log, states: map[uint64][]byte{}, flushed: map[uint64]uint64{}}
}

func (h *held) holding() bool {
	return len(h.items) > 0 || len(h.states) > 0 || len(h.records) > 0 || h.shift != 0
}

// Commit queues items and saves states through the outbox, after what is
// held; when that fails, they are held too (and the error logged once per
// failure). It returns the write's error, nil when saved.
func (h *held) Commit(items []Item, states map[uint64][]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range items {
		h.memSeq++
		items[i].mem = h.memSeq
		items[i].Seq = 0
	}
	h.items = append(h.items, items...)
	for id, doc := range states {
		h.states[id] = doc
	}
	return h.flushLocked()
}

// flush writes what is held, if anything (the engine's tick calls it).
func (h *held) flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.flushLocked()
}

func (h *held) flushLocked() error {
	if !h.holding() {
		return nil
	}
	n, s, r := len(h.items), len(h.states), len(h.records)
	if h.shift != 0 {
		if err := h.inner.Shift(h.shift); err != nil {
			return h.failedLocked(err)
		}
		h.shift = 0
	}
	if len(h.items) > 0 || len(h.states) > 0 {
		items := slices.Clone(h.items)
		if err := h.inner.Commit(items, h.states); err != nil {
			return h.failedLocked(err)
		}
		for _, it := range items {
			h.flushed[it.mem] = it.Seq
		}
		h.items, h.states = nil, map[uint64][]byte{}
	}
	for len(h.records) > 0 {
		rec := h.records[0]
		if err := h.inner.Attempt(rec.item, rec.done, rec.entry); err != nil {
			return h.failedLocked(err)
		}
		h.records = h.records[1:]
	}
	if h.failing != "" {
		h.log.Info("notification outbox written again: what was held in memory is saved", "messages", n, "states", s, "attempts", r, "attempts_lost", h.dropped)
		h.failing, h.dropped = "", 0
	}
	return nil
}

// failedLocked logs a write failure when it starts (or its reason
// changes) and returns it.
func (h *held) failedLocked(err error) error {
	if msg := err.Error(); msg != h.failing {
		h.failing = msg
		h.log.Error("notification outbox cannot be written: messages are delivered from memory until it can", "messages_held", len(h.items), "states_held", len(h.states), "err", err)
	}
	return err
}

// Pending lists the outbox's queued items as the held attempts left them
// (delivered ones gone, retried ones rescheduled), then the held
// messages.
func (h *held) Pending() ([]Item, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.flushed)
	items, err := h.inner.Pending()
	if err != nil {
		return nil, err
	}
	latest := map[uint64]heldRecord{}
	for _, rec := range h.records {
		if rec.item.Seq != 0 {
			latest[rec.item.Seq] = rec
		}
	}
	out := items[:0]
	for _, it := range items {
		if rec, ok := latest[it.Seq]; ok {
			if rec.done {
				continue
			}
			it = rec.item
		} else if h.shift != 0 {
			it.Created, it.Next = it.Created.Add(h.shift), it.Next.Add(h.shift)
		}
		out = append(out, it)
	}
	return append(out, h.items...), nil
}

// Attempt records an attempt: a held message is updated (or dropped when
// done) in memory; one in the outbox is recorded there, or held when that
// fails.
func (h *held) Attempt(it Item, done bool, e LogEntry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if it.mem != 0 {
		if i := slices.IndexFunc(h.items, func(x Item) bool { return x.mem == it.mem }); i >= 0 {
			if done {
				h.items = slices.Delete(h.items, i, i+1)
			} else {
				h.items[i].Attempts, h.items[i].Next = it.Attempts, it.Next
			}
			h.holdLocked(heldRecord{item: Item{Channel: it.Channel, Message: it.Message}, done: true, entry: e}) // the log entry only
			return h.flushLocked()
		}
		seq, ok := h.flushed[it.mem]
		if !ok {
			return fmt.Errorf("recording message %s to %s: no longer queued", it.Message.ID, it.Channel)
		}
		it.Seq, it.mem = seq, 0
	}
	if h.holding() {
		h.holdLocked(heldRecord{item: it, done: done, entry: e})
		return h.flushLocked()
	}
	if err := h.inner.Attempt(it, done, e); err != nil {
		h.holdLocked(heldRecord{item: it, done: done, entry: e})
		h.failedLocked(err)
	}
	return nil
}

func (h *held) holdLocked(rec heldRecord) {
	h.records = append(h.records, rec)
	if len(h.records) <= maxHeldRecords {
		return
	}
	if i := slices.IndexFunc(h.records, func(r heldRecord) bool { return r.item.Seq == 0 }); i >= 0 {
		h.records = slices.Delete(h.records, i, i+1)
		h.dropped++
	}
}

// LoadStates reads the outbox's saved states.
func (h *held) LoadStates() (map[uint64][]byte, error) { return h.inner.LoadStates() }

// Shift moves every queued item's times by d: the outbox's, or when that
// cannot be written, a shift held for them; the held ones at once.
func (h *held) Shift(d time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.items {
		h.items[i].Created, h.items[i].Next = h.items[i].Created.Add(d), h.items[i].Next.Add(d)
	}
	for i := range h.records {
		if h.records[i].item.Seq != 0 {
			it := &h.records[i].item
			it.Created, it.Next = it.Created.Add(d), it.Next.Add(d)
		}
	}
	h.shift += d
	return h.flushLocked()
}
