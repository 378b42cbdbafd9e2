package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PhoneRenumber gives the queued summaries new sequence numbers from
// past+1 on, in their order, and moves NextSeq past them, in one
// transaction: a box restored from an old backup numbers again what the
// receiver already holds, and the receiver refuses those numbers (409)
// naming the newest it holds, past. rewrite returns a body made to carry
// its new number. It returns how many summaries moved and the oldest's
// old number; nothing changes when the outbox is empty, its oldest is
// already above past, or rewrite fails (its error, with the summary's
// number, is returned).
func (s *Store) PhoneRenumber(past uint64, rewrite func(body []byte, seq uint64) ([]byte, error)) (moved int, from uint64, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketPhoneOutbox)
		k, _ := ob.Cursor().First()
		if k == nil || binary.BigEndian.Uint64(k) > past {
			return nil
		}
		m, err := phoneMeta(tx)
		if err != nil {
			return err
		}
		from = binary.BigEndian.Uint64(k)
		type queued struct {
			seq  uint64
			body []byte
		}
		var all []queued
		if err := ob.ForEach(func(k, v []byte) error {
			all = append(all, queued{binary.BigEndian.Uint64(k), v})
			return nil
		}); err != nil {
			return err
		}
		next := past + 1
		fresh := make([][]byte, len(all))
		var size int64
		for i, q := range all {
			b, err := rewrite(q.body, next+uint64(i))
			if err != nil {
				return fmt.Errorf("renumbering queued summary %d as %d: %w", q.seq, next+uint64(i), err)
			}
			fresh[i] = bytes.Clone(b) // bbolt keeps what Put is given until the commit
			size += int64(len(b))
		}
		for _, q := range all {
			if err := ob.Delete(u64Key(q.seq)); err != nil {
				return err
			}
		}
		for i, b := range fresh {
			if err := ob.Put(u64Key(next+uint64(i)), b); err != nil {
				return err
			}
		}
		moved = len(all)
		m.Bytes = size
		m.NextSeq = max(m.NextSeq, next+uint64(len(all)))
		return putPhoneMeta(tx, m)
	})
	if err != nil {
		return 0, 0, err
	}
	return moved, from, nil
}
