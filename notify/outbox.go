package notify

import (
	"encoding/json"
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
	// (done) or stores its new retry count and time.
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
	// queued document seq with doc (nil removes it), in one transaction.
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
