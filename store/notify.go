package store

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Notification persistence: the outbox (messages queued before they are
// sent), the delivery log, each open incident's notification state, and
// acknowledge tokens already used. notify.DocStore is the contract.
var (
	bucketOutbox      = []byte("notify_outbox") // seq -> queued message
	bucketNotifyLog   = []byte("notify_log")    // time+seq -> attempt
	bucketNotifyState = []byte("notify_state")  // incident id -> state
	bucketAckUsed     = []byte("ack_used")      // token -> expiry (unix ms)
)

// NotifyLogRetention is how long delivery attempts are kept.
const NotifyLogRetention = 90 * 24 * time.Hour

func init() {
	registerBucket(string(bucketOutbox))
	registerBucket(string(bucketNotifyLog))
	registerBucket(string(bucketNotifyState))
	registerBucket(string(bucketAckUsed))
}

// NotifyCommit saves incident states (a nil document deletes one) and
// queues n messages in one transaction: a crash keeps both or neither.
// encode gives the document of message i with its sequence number.
func (s *Store) NotifyCommit(states map[uint64][]byte, n int, encode func(i int, seq uint64) []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketNotifyState)
		for id, doc := range states {
			var err error
			if doc == nil {
				err = sb.Delete(u64Key(id))
			} else {
				err = sb.Put(u64Key(id), doc)
			}
			if err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketOutbox)
		for i := 0; i < n; i++ {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(u64Key(seq), encode(i, seq)); err != nil {
				return err
			}
		}
		return nil
	})
}

// OutboxList calls fn for each queued message, oldest first.
func (s *Store) OutboxList(fn func(seq uint64, doc []byte)) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			fn(keyU64(k), append([]byte(nil), v...))
			return nil
		})
	})
}

// OutboxRewrite replaces every queued message by fn's result in one
// transaction (a wall clock step moves their times).
func (s *Store) OutboxRewrite(fn func(doc []byte) []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		type kv struct{ k, v []byte }
		var all []kv
		if err := b.ForEach(func(k, v []byte) error {
			all = append(all, kv{append([]byte(nil), k...), fn(append([]byte(nil), v...))})
			return nil
		}); err != nil {
			return err
		}
		for _, x := range all {
			if err := b.Put(x.k, x.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// NotifyAttempt logs a delivery attempt and, in the same transaction,
// replaces queued message seq with doc, or removes it when doc is nil.
// Seq 0 is no queued message (one delivered from memory while the outbox
// could not be written): only the log entry is written. Log entries
// older than NotifyLogRetention go at the same time.
func (s *Store) NotifyAttempt(seq uint64, doc, logDoc []byte) error {
	now := s.o.Clock.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		var err error
		switch {
		case seq == 0:
		case doc == nil:
			err = ob.Delete(u64Key(seq))
		default:
			err = ob.Put(u64Key(seq), doc)
		}
		if err != nil {
			return err
		}
		return addNotifyLog(tx, now, logDoc)
	})
}

// NotifyLogAdd records a delivery attempt on its own.
func (s *Store) NotifyLogAdd(doc []byte) error {
	now := s.o.Clock.Now()
	return s.db.Update(func(tx *bolt.Tx) error { return addNotifyLog(tx, now, doc) })
}

func addNotifyLog(tx *bolt.Tx, now time.Time, doc []byte) error {
	b := tx.Bucket(bucketNotifyLog)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(seqKey(now, uint32(seq)), doc); err != nil {
		return err
	}
	// Retention from First() up to the cutoff: usually one key looked at.
	cutoff := timeKey(now.Add(-NotifyLogRetention))
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], cutoff) < 0; k, _ = c.First() {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// NotifyLogList calls fn with attempts, newest first, until it returns false.
func (s *Store) NotifyLogList(fn func(doc []byte) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketNotifyLog).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if !fn(append([]byte(nil), v...)) {
				return nil
			}
		}
		return nil
	})
}

// NotifyStates returns every stored notification state.
func (s *Store) NotifyStates() (map[uint64][]byte, error) {
	out := map[uint64][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNotifyState).ForEach(func(k, v []byte) error {
			out[keyU64(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// UseToken records an acknowledge token as used until it expires and
// reports whether it was unused; check and record are one transaction.
// Records of expired tokens are dropped on the way (they are refused by
// their signature's expiry anyway).
func (s *Store) UseToken(token string, expires time.Time) (bool, error) {
	now := s.o.Clock.Now()
	fresh := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAckUsed)
		if b.Get([]byte(token)) != nil {
			return nil
		}
		fresh = true
		var stale [][]byte
		b.ForEach(func(k, v []byte) error {
			if len(v) == 8 && keyTime(v).Before(now) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.Put([]byte(token), timeKey(expires))
	})
	return fresh, err
}

// UseOnce is UseToken for callers that do not know the expiry: the
// record is kept for a year, longer than any acknowledge link lives.
func (s *Store) UseOnce(token string) (bool, error) {
	return s.UseToken(token, s.o.Clock.Now().Add(365*24*time.Hour))
}
