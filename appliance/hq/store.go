package hq

import (
	"context"

	hqui "outpost/ui/hq"
)

// Store is where the receiver keeps what it knows: the box records (with
// their commands), the summaries as sent and their index rows, the newest
// summary's digest per box, the pending commands' payloads, the fleet
// pages' accounts and sessions. Two backends implement it: bbolt in the
// data directory (one instance, the default) and PostgreSQL (several
// instances on one database: everything one instance needs of another's
// work is in the database). The rules (duplicates, conflicts, the floor,
// quotas) are the Server's and run the same on both.
type Store interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits when fn
	// returns nil. fn may run more than once (a backend retries a
	// transaction a concurrent one made fail), so it sets everything it
	// reports.
	Update(fn func(Tx) error) error
	// Batch is Update for the many small writes of ingest: the backend
	// may commit several callers' functions together.
	Batch(fn func(Tx) error) error
	// AllowAck counts an acknowledgement posted from addr and reports
	// whether it is within ackPerAddr per ackWindow.
	AllowAck(addr string) (bool, error)
	// Lead makes this instance the one that runs the watcher (silent
	// boxes, MSP incidents and their notifications) if no other does:
	// ok false when another instance leads. lost is closed when the
	// lead is lost (the database connection holding it broke); release
	// gives it up. With one instance (bbolt) it always leads.
	Lead(ctx context.Context) (lost <-chan struct{}, release func(), ok bool, err error)
	// Name says which backend this is ("bbolt", "postgres"), for logs.
	Name() string
	Close() error
}

// Tx is one transaction. Methods return an error only for a fault of the
// store (an unreadable record, a lost connection); what is absent is a
// false ok or a nil pointer. In an Update, Box locks the record until the
// transaction ends, so that two instances serialise their work on a box.
type Tx interface {
	Box(id string) (b Box, ok bool, err error)
	PutBox(b Box) error
	// Boxes calls fn for every registered box, in no set order.
	Boxes(fn func(Box) error) error
	// Entry is the index row of a stored summary, nil when none is
	// stored under seq; an unreadable row is an empty entry (never equal
	// to a real hash: a conflict, never a replacement).
	Entry(box string, seq uint64) (*entry, error)
	// PutSummary stores a new summary and its index row; a second one
	// under the same (box, seq) is an error.
	PutSummary(box string, seq uint64, body []byte, e entry) error
	// Oldest is the box's lowest stored sequence number, its index row
	// (bad is true when the row is unreadable) and the body's size.
	Oldest(box string) (seq uint64, e entry, size int, bad, ok bool, err error)
	DeleteSummary(box string, seq uint64) error
	// Entries lists up to n index rows below seq `below` (0: from the
	// newest), newest first; unreadable rows are left out.
	Entries(box string, below uint64, n int) ([]seqEntry, error)
	// Bodies lists up to n stored summaries as sent above seq `above`,
	// oldest first, with their index rows.
	Bodies(box string, above uint64, n int) ([]storedSummary, error)
	Latest(box string) (*digest, error)
	PutLatest(box string, d digest) error
	// Command is a pending command's payload (a wire.Command as JSON).
	Command(box string, id uint64) ([]byte, error)
	PutCommand(box string, id uint64, payload []byte) error
	DeleteCommand(box string, id uint64) error
	User(name string) (u hqui.User, ok bool, err error)
	PutUser(u hqui.User) error
	DeleteUser(name string) error
	Users(fn func(hqui.User) error) error
	CountUsers() (int, error)
	// Sessions are kept under the SHA-256 of their token (sessionKey).
	Session(key []byte) (ss hqui.Session, ok bool, err error)
	PutSession(key []byte, ss hqui.Session) error
	DeleteSession(key []byte) error
	// Sessions calls fn for every session; bad is true for an
	// unreadable one.
	Sessions(fn func(key []byte, ss hqui.Session, bad bool) error) error

	// Docs are numbered documents by kind: hq's own incidents (alerts),
	// and the notify engine's states, outbox and delivery log.
	// NextDoc numbers a new document of a kind (from 1, never reused).
	NextDoc(kind string) (uint64, error)
	Doc(kind string, id uint64) ([]byte, error)
	PutDoc(kind string, id uint64, doc []byte) error
	DeleteDoc(kind string, id uint64) error
	// Docs calls fn for every document of a kind, lowest id first; fn
	// may write.
	Docs(kind string, fn func(id uint64, doc []byte) error) error
	// DeleteDocsBelow deletes a kind's documents numbered below id.
	DeleteDocsBelow(kind string, id uint64) error
}

// seqEntry is an index row with its sequence number.
type seqEntry struct {
	Seq uint64
	entry
}

// storedSummary is a summary as sent with its index row.
type storedSummary struct {
	Seq   uint64
	Body  []byte
	Entry entry
}
