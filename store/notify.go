package store

import (
	bolt "go.etcd.io/bbolt"
)

var (
	bucketOutbox      = []byte("notify_outbox") // seq -> queued message
	bucketNotifyLog   = []byte("notify_log")    // time+seq -> attempt
	bucketNotifyState = []byte("notify_state")  // incident id -> state
)

func init() {
	registerBucket(string(bucketOutbox))
	registerBucket(string(bucketNotifyLog))
	registerBucket(string(bucketNotifyState))
}

// OutboxAdd queues n messages in one commit; encode gives the document of
// message i with its sequence number.
func (s *Store) OutboxAdd(n int, encode func(i int, seq uint64) []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
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

// OutboxPut replaces a queued message (its retry count and time).
func (s *Store) OutboxPut(seq uint64, doc []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketOutbox).Put(u64Key(seq), doc) })
}

// OutboxDelete removes a delivered or abandoned message.
func (s *Store) OutboxDelete(seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketOutbox).Delete(u64Key(seq)) })
}

// NotifyLogAdd records a delivery attempt.
func (s *Store) NotifyLogAdd(doc []byte) error {
	now := s.o.Clock.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNotifyLog)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(seqKey(now, uint32(seq)), doc)
	})
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

// NotifyStatePut keeps an incident's notification state.
func (s *Store) NotifyStatePut(id uint64, doc []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNotifyState).Put(u64Key(id), doc) })
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

// UseOnce records token as used and reports whether it was unused: the
// check and the record are one transaction.
func (s *Store) UseOnce(token string) (bool, error) {
	fresh := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		k := []byte("used-token:" + token)
		if b.Get(k) != nil {
			return nil
		}
		fresh = true
		return b.Put(k, []byte{1})
	})
	return fresh, err
}
