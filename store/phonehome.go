package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Phone-home outbox: summaries are stored before any send and removed
// only when the MSP's receiver acknowledged them.
var (
	bucketPhoneOutbox = []byte("phonehome_outbox") // seq -> gzip'd summary
	bucketPhoneMeta   = []byte("phonehome_meta")   // "meta" -> PhoneMeta
)

func init() {
	registerBucket(string(bucketPhoneOutbox))
	registerBucket(string(bucketPhoneMeta))
}

// PhoneMeta is the outbox's bookkeeping.
type PhoneMeta struct {
	// NextSeq is the sequence number the next summary gets (from 1).
	NextSeq uint64 `json:"next_seq"`
	// Bytes is the outbox's size, for the quota.
	Bytes int64 `json:"bytes"`
	// Lost counts summaries coalesced away by the quota, ever; LostLast
	// is the newest of them. Summaries carry these totals, so the loss
	// reaches the receiver with the next summary that gets through.
	Lost      uint64 `json:"lost"`
	LostFirst uint64 `json:"lost_first,omitempty"`
	LostLast  uint64 `json:"lost_last,omitempty"`
	// LostCounts coalesces what the dropped summaries reported (incidents
	// closed, devices new/gone/changed: the figures that appear in one
	// summary only), added up as they go.
	LostCounts map[string]uint64 `json:"lost_counts,omitempty"`
	// InventoryDue is set when a dropped summary carried inventory
	// changes: the next summary then lists every device, so the receiver
	// is back on the truth.
	InventoryDue bool `json:"inventory_due,omitempty"`
	// Acked is the newest summary the receiver acknowledged and AckedAt
	// when (RFC 3339), so status shows the last success after a restart
	// too (a box rebooted during a long outage).
	Acked   uint64 `json:"acked,omitempty"`
	AckedAt string `json:"acked_at,omitempty"`
	// Failures counts attempts failed in a row since the last success,
	// with the last one's error and time (RFC 3339), so status keeps them
	// across a restart during an outage.
	Failures    int    `json:"failures,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	LastErrorAt string `json:"last_error_at,omitempty"`
	// Built is the time of the last summary built (RFC 3339), so the
	// next one reports what closed since.
	Built string `json:"built,omitempty"`
	// Inventory is the device inventory last reported (device -> hash),
	// for the next summary's delta.
	Inventory map[string]string `json:"inventory,omitempty"`
}

// PhoneEntry is one queued summary.
type PhoneEntry struct {
	Seq  uint64
	Body []byte
}

// PhoneMeta returns the outbox bookkeeping.
func (s *Store) PhoneMeta() (PhoneMeta, error) {
	var m PhoneMeta
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		m, err = phoneMeta(tx)
		return err
	})
	return m, err
}

func phoneMeta(tx *bolt.Tx) (PhoneMeta, error) {
	m := PhoneMeta{NextSeq: 1}
	if v := tx.Bucket(bucketPhoneMeta).Get([]byte("meta")); v != nil {
		if err := json.Unmarshal(v, &m); err != nil {
			return m, fmt.Errorf("phone-home outbox state: %w", err)
		}
	}
	return m, nil
}

func putPhoneMeta(tx *bolt.Tx, m PhoneMeta) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPhoneMeta).Put([]byte("meta"), v)
}

// PhoneFold reads a summary the quota drops: the figures to keep
// (added to PhoneMeta.LostCounts) and whether it carried inventory
// changes.
type PhoneFold func(body []byte) (counts map[string]uint64, inventoryChanged bool)

// PhoneAppend queues a summary. build gets the sequence number and the
// bookkeeping as it stands (loss totals, last build, last inventory,
// whether a full inventory is due, which it must honour) and returns the
// encoded summary and the inventory it reported. When the outbox would
// exceed quota bytes, the oldest summaries are dropped: counted as lost
// and their figures coalesced through fold. The queueing is one
// transaction.
//
// build runs outside the write transaction: it reads the incidents,
// whose engine may itself be waiting to write (an incident saved while a
// summary was being built deadlocked the two). If the bookkeeping
// moved on meanwhile (another summary queued), it is built again.
func (s *Store) PhoneAppend(quota int64, builtAt string, build func(seq uint64, m PhoneMeta) (body []byte, inventory map[string]string, err error), fold PhoneFold) (uint64, error) {
	for attempt := 0; ; attempt++ {
		var before PhoneMeta
		if err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			before, err = phoneMeta(tx)
			return err
		}); err != nil {
			return 0, err
		}
		body, inv, err := build(before.NextSeq, before)
		if err != nil {
			return 0, err
		}
		seq, err := s.phoneQueue(quota, builtAt, before, body, inv, fold)
		if errors.Is(err, errPhoneMetaMoved) && attempt < 5 {
			continue
		}
		return seq, err
	}
}

// errPhoneMetaMoved says the bookkeeping changed between building a
// summary and queueing it.
var errPhoneMetaMoved = errors.New("phone-home bookkeeping changed while a summary was built")

// phoneQueue queues body, built from before, in one transaction.
func (s *Store) phoneQueue(quota int64, builtAt string, before PhoneMeta, body []byte, inv map[string]string, fold PhoneFold) (uint64, error) {
	var seq uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		m, err := phoneMeta(tx)
		if err != nil {
			return err
		}
		if m.NextSeq != before.NextSeq {
			return errPhoneMetaMoved // another summary was queued meanwhile
		}
		seq = m.NextSeq
		// The summary just built listed every device if one was due; one
		// asked for meanwhile stays due.
		m.InventoryDue = m.InventoryDue && !before.InventoryDue
		ob := tx.Bucket(bucketPhoneOutbox)
		c := ob.Cursor()
		for k, v := c.First(); k != nil && m.Bytes+int64(len(body)) > quota; k, v = c.First() {
			m.Bytes -= int64(len(v))
			m.Lost++
			m.LostLast = binary.BigEndian.Uint64(k)
			if m.LostFirst == 0 {
				m.LostFirst = m.LostLast
			}
			if fold != nil {
				counts, inv := fold(v)
				for name, n := range counts {
					if m.LostCounts == nil {
						m.LostCounts = map[string]uint64{}
					}
					m.LostCounts[name] += n
				}
				// The summary being queued was built before this drop, so
				// the full inventory goes into the next one.
				m.InventoryDue = m.InventoryDue || inv
			}
			if err := ob.Delete(k); err != nil {
				return err
			}
		}
		if err := ob.Put(u64Key(seq), body); err != nil {
			return err
		}
		m.NextSeq, m.Bytes, m.Built = seq+1, m.Bytes+int64(len(body)), builtAt
		if inv != nil {
			m.Inventory = inv
		}
		return putPhoneMeta(tx, m)
	})
	return seq, err
}

// PhoneOldest returns the oldest queued summary; ok is false when the
// outbox is empty.
func (s *Store) PhoneOldest() (e PhoneEntry, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketPhoneOutbox).Cursor().First()
		if k == nil {
			return nil
		}
		e, ok = PhoneEntry{Seq: binary.BigEndian.Uint64(k), Body: append([]byte(nil), v...)}, true
		return nil
	})
	return e, ok, err
}

// PhoneAcked removes a summary the receiver acknowledged at (RFC 3339).
func (s *Store) PhoneAcked(seq uint64, at string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketPhoneOutbox)
		v := ob.Get(u64Key(seq))
		if v == nil {
			return nil
		}
		m, err := phoneMeta(tx)
		if err != nil {
			return err
		}
		m.Bytes -= int64(len(v))
		m.Acked, m.AckedAt = seq, at
		m.Failures, m.LastError, m.LastErrorAt = 0, "", ""
		if err := ob.Delete(u64Key(seq)); err != nil {
			return err
		}
		return putPhoneMeta(tx, m)
	})
}

// PhoneFailed records a failed attempt: failures in a row, the error
// and when (RFC 3339).
func (s *Store) PhoneFailed(failures int, msg, at string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m, err := phoneMeta(tx)
		if err != nil {
			return err
		}
		m.Failures, m.LastError, m.LastErrorAt = failures, msg, at
		return putPhoneMeta(tx, m)
	})
}

// PhoneDepth is how many summaries wait and their bytes.
func (s *Store) PhoneDepth() (n int, bytes int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketPhoneOutbox).Stats().KeyN
		m, err := phoneMeta(tx)
		bytes = m.Bytes
		return err
	})
	return n, bytes, err
}
