package store

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
)

// rollupGrace is how long after midnight a day is still left open for
// late results (a check that started at 23:59:59 and timed out, a flush
// that carried it) before it is rolled up for good.
const rollupGrace = 10 * time.Minute

// Maintain rolls up every complete UTC day not rolled up yet (5-minute
// and hourly buckets, one block per check and day) and then deletes what
// is past its retention, for every check, in one commit together with
// whatever results are pending. Raw results of a day are never deleted
// before that day is rolled up. Run does the same work spread over its
// flush commits; Maintain is for tests, tools and shutdown.
func (s *Store) Maintain() error {
	ids, err := s.CheckIDs()
	if err != nil {
		return err
	}
	return s.commit(ids)
}

// planMaintenance finds the checks that have rollup or retention work
// due, with one read transaction of a few cursor moves per check, and
// queues them for Run's flush commits.
func (s *Store) planMaintenance() error {
	now := s.observeClock()
	var due []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResults).ForEachBucket(func(id []byte) error {
			if s.maintenanceDue(tx, id, now) {
				due = append(due, string(id))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	queued := make(map[string]bool, len(s.maint))
	for _, id := range s.maint {
		queued[id] = true
	}
	for _, id := range due {
		if !queued[id] {
			s.maint = append(s.maint, id)
		}
	}
	return nil
}

// maintenanceDue reports whether maintainCheck would change anything for
// the check: a day to roll up, or data past a retention.
func (s *Store) maintenanceDue(tx *bolt.Tx, id []byte, now time.Time) bool {
	raw := tx.Bucket(bucketResults).Bucket(id)
	if raw == nil {
		return false
	}
	c := raw.Cursor()
	first, _ := c.First()
	if first == nil {
		return false
	}
	rolled := dayStart(keyTime(first))
	if v := tx.Bucket(bucketMeta).Get(id); v != nil {
		rolled = keyTime(v)
	}
	if rolled.Before(s.rollupDay(now)) {
		return true
	}
	if next, _ := c.Next(); next != nil && !keyTime(next).After(s.rawCut(now, rolled)) {
		return true
	}
	for _, x := range s.rollupRetentions(now) {
		if b := tx.Bucket(x.bucket).Bucket(id); b != nil {
			if k, _ := b.Cursor().First(); k != nil && keyTime(k).Before(x.cut) {
				return true
			}
		}
	}
	return false
}

// rollupDay is the first day that is not complete yet at now. A forward
// clock step is held as for raw retention (clockhold.go): a day is not
// closed on the word of a clock that may be corrected back into it.
func (s *Store) rollupDay(now time.Time) time.Time {
	return dayStart(s.heldNow(now, s.o.RawRetention).Add(-rollupGrace))
}

// rawCut is the time before which raw blocks go: the raw retention, but
// never past what is rolled up.
func (s *Store) rawCut(now, rolled time.Time) time.Time {
	cut := s.heldNow(now, s.o.RawRetention).Add(-s.o.RawRetention)
	if cut.After(rolled) {
		cut = rolled
	}
	return cut
}

type retention struct {
	bucket []byte
	cut    time.Time
}

// rollupRetentions lists the buckets other than raw results that are
// cut by age, with their cutoffs at now. Status changes live as long as
// the hourly rollups.
func (s *Store) rollupRetentions(now time.Time) []retention {
	r5m, r1h := s.heldNow(now, s.o.Rollup5mRetention), s.heldNow(now, s.o.Rollup1hRetention)
	return []retention{
		{bucketR5m, dayStart(r5m.Add(-s.o.Rollup5mRetention))},
		{bucketR1h, dayStart(r1h.Add(-s.o.Rollup1hRetention))},
		{bucketChanges, r1h.Add(-s.o.Rollup1hRetention)},
	}
}

func (s *Store) maintainCheck(tx *bolt.Tx, id string, now time.Time) error {
	raw := tx.Bucket(bucketResults).Bucket([]byte(id))
	if raw == nil {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	// Days before `rolled` are done.
	var rolled, stored time.Time
	if v := meta.Get([]byte(id)); v != nil {
		rolled = keyTime(v)
		stored = rolled
	} else if k, _ := raw.Cursor().First(); k != nil {
		rolled = dayStart(keyTime(k))
	} else {
		return nil
	}
	today := s.rollupDay(now)
	for day := rolled; day.Before(today); day = day.Add(24 * time.Hour) {
		rs, err := rawRange(raw, day, day.Add(24*time.Hour-time.Millisecond))
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			// Skip empty days in one seek (a box off for a month, a clock
			// stepped years ahead) rather than one per day.
			k, _ := raw.Cursor().Seek(timeKey(day.Add(24 * time.Hour)))
			next := today
			if k != nil && dayStart(keyTime(k)).Before(today) {
				next = dayStart(keyTime(k))
			}
			if next.After(day.Add(24 * time.Hour)) {
				rolled = next
				day = next.Add(-24 * time.Hour)
				continue
			}
		}
		if len(rs) > 0 {
			for _, res := range []Resolution{Res5m, Res1h} {
				rb, err := tx.Bucket(res.bucket()).CreateBucketIfNotExists([]byte(id))
				if err != nil {
					return err
				}
				rb.FillPercent = 0.95
				for _, blk := range rollupBlocks(res.Step(), computeRollups(rs, res.Step())) {
					if err := rb.Put(timeKey(blk.start), blk.data); err != nil {
						return err
					}
				}
			}
		}
		rolled = day.Add(24 * time.Hour)
	}
	if !rolled.Equal(stored) {
		if err := meta.Put([]byte(id), timeKey(rolled)); err != nil {
			return err
		}
	}
	if err := deleteBlocksBefore(raw, s.rawCut(now, rolled)); err != nil {
		return err
	}
	for _, x := range s.rollupRetentions(now) {
		if b := tx.Bucket(x.bucket).Bucket([]byte(id)); b != nil {
			if err := deleteKeysBefore(b, x.cut); err != nil {
				return err
			}
		}
	}
	return nil
}

// rawRange decodes a check's results in [from, to]; the block holding
// `from` may start before it.
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
