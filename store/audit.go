package store

import (
	bolt "go.etcd.io/bbolt"
)

// bucketAudit holds healing's audit trail: who ran which remediation,
// when, with what output and result. Keys are time+sequence so a reverse
// cursor walk is newest first.
var bucketAudit = []byte("audit")

func init() { registerBucket(string(bucketAudit)) }

// AppendAudit records one healing action run.
func (s *Store) AppendAudit(doc []byte) error {
	now := s.o.Clock.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(seqKey(now, uint32(seq)), doc)
	})
}

// ListAudit calls fn with audit documents, newest first, until it
// returns false.
func (s *Store) ListAudit(fn func(doc []byte) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if !fn(append([]byte(nil), v...)) {
				return nil
			}
		}
		return nil
	})
}
