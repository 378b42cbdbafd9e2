package store

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
)

// Maintain rolls up every complete UTC day not rolled up yet (5-minute
// and hourly buckets, one block per check and day) and then deletes what
// is past its retention. Raw results of a day are never deleted before
// that day is rolled up. Each check is its own transaction, so the
// flush loop is never held up for long.
func (s *Store) Maintain() error {
	ids, err := s.CheckIDs()
	if err != nil {
		return err
	}
	now := s.o.Clock.Now()
	today := dayStart(now)
	for _, id := range ids {
		if err := s.db.Update(func(tx *bolt.Tx) error { return s.maintainCheck(tx, id, now, today) }); err != nil {
			return fmt.Errorf("maintaining %s: %w", id, err)
		}
	}
	return nil
}

func (s *Store) maintainCheck(tx *bolt.Tx, id string, now, today time.Time) error {
	raw := tx.Bucket(bucketResults).Bucket([]byte(id))
	if raw == nil {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	// Days before `rolled` are done.
	var rolled time.Time
	if v := meta.Get([]byte(id)); v != nil {
		rolled = keyTime(v)
	} else if k, _ := raw.Cursor().First(); k != nil {
		rolled = dayStart(keyTime(k))
	} else {
		return nil
	}
	for day := rolled; day.Before(today); day = day.Add(24 * time.Hour) {
		rs, err := rawRange(raw, day, day.Add(24*time.Hour-time.Millisecond))
		if err != nil {
			return err
		}
		if len(rs) > 0 {
			for _, res := range []Resolution{Res5m, Res1h} {
				rb, err := tx.Bucket(res.bucket()).CreateBucketIfNotExists([]byte(id))
				if err != nil {
					return err
				}
				rb.FillPercent = 0.95
				if err := rb.Put(timeKey(day), encodeRollups(day, res.Step(), computeRollups(rs, res.Step()))); err != nil {
					return err
				}
			}
		}
		rolled = day.Add(24 * time.Hour)
	}
	if err := meta.Put([]byte(id), timeKey(rolled)); err != nil {
		return err
	}
	// Raw retention, never past what is rolled up.
	cut := now.Add(-s.o.RawRetention)
	if cut.After(rolled) {
		cut = rolled
	}
	if err := deleteBlocksBefore(raw, cut); err != nil {
		return err
	}
	for _, x := range []struct {
		b   []byte
		ret time.Duration
	}{{bucketR5m, s.o.Rollup5mRetention}, {bucketR1h, s.o.Rollup1hRetention}} {
		if b := tx.Bucket(x.b).Bucket([]byte(id)); b != nil {
			if err := deleteKeysBefore(b, dayStart(now.Add(-x.ret))); err != nil {
				return err
			}
		}
	}
	// Status changes live as long as the hourly rollups.
	if b := tx.Bucket(bucketChanges).Bucket([]byte(id)); b != nil {
		if err := deleteKeysBefore(b, now.Add(-s.o.Rollup1hRetention)); err != nil {
			return err
		}
	}
	return nil
}

func rawRange(b *bolt.Bucket, from, to time.Time) ([]checks.Result, error) {
	var out []checks.Result
	c := b.Cursor()
	k, v := c.Seek(timeKey(from))
	if k == nil || keyTime(k).After(from) {
		if pk, pv := c.Prev(); pk != nil {
			k, v = pk, pv
		} else {
			k, v = c.Seek(timeKey(from))
		}
	}
	max := timeKey(to)
	for ; k != nil && bytes.Compare(k, max) <= 0; k, v = c.Next() {
		if _, err := decodeBlock(keyTime(k), v, func(r checks.Result) bool {
			if !r.Time.Before(from) && !r.Time.After(to) {
				out = append(out, r)
			}
			return true
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// deleteBlocksBefore removes result blocks that end before cut: a block
// ends where the next one starts, so a block goes when its successor
// starts at or before cut.
func deleteBlocksBefore(b *bolt.Bucket, cut time.Time) error {
	c := b.Cursor()
	var victims [][]byte
	k, _ := c.First()
	for k != nil {
		nk, _ := c.Next()
		if nk == nil || keyTime(nk).After(cut) {
			break
		}
		victims = append(victims, append([]byte(nil), k...))
		k = nk
	}
	for _, v := range victims {
		if err := b.Delete(v); err != nil {
			return err
		}
	}
	return nil
}

// deleteKeysBefore removes keys whose time is before cut.
func deleteKeysBefore(b *bolt.Bucket, cut time.Time) error {
	c := b.Cursor()
	max := timeKey(cut)
	var victims [][]byte
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], max) < 0; k, _ = c.Next() {
		victims = append(victims, append([]byte(nil), k...))
	}
	for _, v := range victims {
		if err := b.Delete(v); err != nil {
			return err
		}
	}
	return nil
}

// Rollups returns a check's rollups at resolution res in [from, to]: from
// stored day blocks, and computed from raw results for days not rolled
// up yet (today).
func (s *Store) Rollups(checkID string, res Resolution, from, to time.Time) ([]Rollup, error) {
	var out []Rollup
	var rolledUntil time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte(checkID)); v != nil {
			rolledUntil = keyTime(v)
		}
		b := tx.Bucket(res.bucket()).Bucket([]byte(checkID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		max := timeKey(to)
		for k, v := c.Seek(timeKey(dayStart(from))); k != nil && bytes.Compare(k, max) <= 0; k, v = c.Next() {
			rs, err := decodeRollups(keyTime(k), res.Step(), v)
			if err != nil {
				return fmt.Errorf("rollups of %s: %w", checkID, err)
			}
			for _, r := range rs {
				if !r.Start.Before(from.Truncate(res.Step())) && !r.Start.After(to) {
					out = append(out, r)
				}
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	rawFrom := from
	if rolledUntil.After(rawFrom) {
		rawFrom = rolledUntil
	}
	if rawFrom.Before(to) {
		rs, err := s.Results(checkID, rawFrom.Truncate(res.Step()), to)
		if err != nil {
			return out, err
		}
		out = append(out, computeRollups(rs, res.Step())...)
	}
	return out, nil
}
