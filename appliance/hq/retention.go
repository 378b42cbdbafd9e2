package hq

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// prune applies the box's quota and retention: while it keeps more
// summaries or bytes than its limits, or its oldest was stored longer
// ago than the retention, the oldest (lowest sequence number) goes. The
// floor rises to what went, so a summary at or below it is never taken
// for new.
func (s *Server) prune(tx *bolt.Tx, b *Box, now time.Time) error {
	sb := tx.Bucket(bucketSummaries).Bucket([]byte(b.ID))
	ib := tx.Bucket(bucketIndex).Bucket([]byte(b.ID))
	if sb == nil || ib == nil {
		return nil
	}
	cut := now.Add(-s.lim.Retention)
	c := ib.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		over := b.Stored > uint64(s.lim.BoxSummaries) || b.StoredBytes > uint64(s.lim.BoxBytes)
		e, err := unmarshalEntry(v)
		if err == nil && !over && !e.Received.Before(cut) {
			return nil
		}
		seq := keySeq(k)
		size := uint64(len(sb.Get(k)))
		k = bytes.Clone(k)
		if err := c.Delete(); err != nil {
			return err
		}
		if err := sb.Delete(k); err != nil {
			return err
		}
		if b.Stored > 0 {
			b.Stored--
		}
		b.StoredBytes -= min(size, b.StoredBytes)
		b.Floor = max(b.Floor, seq)
	}
	return nil
}

// Sweep applies retention to every box (a silent box's summaries age
// too) and drops expired sessions; `hq run` calls it hourly. It writes
// only where something is due: each commit is an fsync.
func (s *Server) Sweep() error {
	now := s.clock.Now().UTC()
	cut := now.Add(-s.lim.Retention)
	var due []string
	sessions := false
	if err := s.db.View(func(tx *bolt.Tx) error {
		ib := tx.Bucket(bucketIndex)
		tx.Bucket(bucketBoxes).ForEach(func(k, _ []byte) error {
			if b := ib.Bucket(k); b != nil {
				if _, v := b.Cursor().First(); v != nil {
					if e, err := unmarshalEntry(v); err != nil || e.Received.Before(cut) {
						due = append(due, string(k))
					}
				}
			}
			return nil
		})
		return tx.Bucket(bucketSessions).ForEach(func(_, v []byte) error {
			var ss struct{ Expires time.Time }
			if json.Unmarshal(v, &ss) != nil || !now.Before(ss.Expires) {
				sessions = true
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, id := range due {
		if err := s.db.Update(func(tx *bolt.Tx) error {
			b, ok, err := getBox(tx, id)
			if err != nil || !ok {
				return err
			}
			if err := s.prune(tx, &b, now); err != nil {
				return err
			}
			return putBox(tx, b)
		}); err != nil {
			return err
		}
	}
	if sessions {
		return s.sweepSessions(now)
	}
	return nil
}
