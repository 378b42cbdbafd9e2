package phonehome

// Outbox is where summaries wait until the receiver acknowledged them
// (the store, through the daemon's adapter): stored before any send,
// removed only when acknowledged. Times are RFC 3339 text.
type Outbox interface {
	// PhoneAppend queues a summary in one transaction. build gets the
	// sequence number and the bookkeeping as it stands (loss totals, last
	// build, last inventory, whether a full inventory is due) and returns
	// the encoded summary and the inventory it reported (nil: unchanged).
	// When the outbox would exceed quota bytes the oldest summaries are
	// dropped, counted as lost and their figures coalesced through fold
	// (nil: counted only). It returns the summary's sequence number; an
	// error (build's, or the outbox's) means nothing was queued or
	// dropped.
	PhoneAppend(quota int64, builtAt string, build func(seq uint64, m Meta) (body []byte, inventory map[string]string, err error), fold func(body []byte) (counts map[string]uint64, inventoryChanged bool)) (uint64, error)
	// PhoneOldest returns the oldest queued summary; ok is false when the
	// outbox is empty, err when it could not be read.
	PhoneOldest() (e Entry, ok bool, err error)
	// PhoneAcked removes summary seq, acknowledged at, and clears the
	// failures; a seq no longer queued is no error.
	PhoneAcked(seq uint64, at string) error
	// PhoneFailed records failures attempts failed in a row, the last
	// one's error and when.
	PhoneFailed(failures int, msg, at string) error
	// PhoneDepth is how many summaries wait and their bytes.
	PhoneDepth() (n int, bytes int64, err error)
	// PhoneMeta returns the bookkeeping (NextSeq 1 before the first
	// summary); an error means it could not be read.
	PhoneMeta() (Meta, error)
	// PhoneRenumber gives the queued summaries the numbers from past+1
	// on, in order, each body rewritten for its number, and moves the
	// next number past them, in one transaction; it returns how many
	// moved and the oldest's old number. Nothing changes when the oldest
	// is above past already, or on an error.
	PhoneRenumber(past uint64, rewrite func(body []byte, seq uint64) ([]byte, error)) (moved int, from uint64, err error)
}

// CommandLog keeps what the box did with the receiver's commands across
// restarts (a store blob, through the daemon's adapter), so a command
// is handled once even when the box restarts before the receiver let it
// go.
type CommandLog interface {
	// LoadPhoneCommands returns what SavePhoneCommands stored, nil
	// before the first; an error means it could not be read.
	LoadPhoneCommands() ([]byte, error)
	SavePhoneCommands(state []byte) error
}

// Meta is the outbox's bookkeeping. It is the store's PhoneMeta field for
// field, so the daemon converts one into the other.
type Meta struct {
	// NextSeq is the sequence number the next summary gets (from 1).
	NextSeq uint64 `json:"next_seq"`
	// Bytes is the outbox's size, for the quota.
	Bytes int64 `json:"bytes"`
	// Lost counts summaries coalesced away by the quota, ever, from
	// LostFirst to LostLast; LostCounts adds up the one-time figures
	// they reported (Fold).
	Lost       uint64            `json:"lost"`
	LostFirst  uint64            `json:"lost_first,omitempty"`
	LostLast   uint64            `json:"lost_last,omitempty"`
	LostCounts map[string]uint64 `json:"lost_counts,omitempty"`
	// InventoryDue is set when a dropped summary carried inventory
	// changes: the next summary lists every device.
	InventoryDue bool `json:"inventory_due,omitempty"`
	// Acked is the newest summary acknowledged, AckedAt when.
	Acked   uint64 `json:"acked,omitempty"`
	AckedAt string `json:"acked_at,omitempty"`
	// Failures counts attempts failed in a row since the last success,
	// with the last one's error and time.
	Failures    int    `json:"failures,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	LastErrorAt string `json:"last_error_at,omitempty"`
	// Built is the time of the last summary built.
	Built string `json:"built,omitempty"`
	// Inventory is the device inventory last reported (device -> hash).
	Inventory map[string]string `json:"inventory,omitempty"`
}

// Entry is one queued summary.
type Entry struct {
	Seq  uint64
	Body []byte
}
