package hq

import (
	"time"

	hqui "outpost/ui/hq"
)

// prune applies the box's quota and retention: while it keeps more
// summaries or bytes than its limits, or its oldest was stored longer
// ago than the retention, the oldest (lowest sequence number) goes. The
// floor rises to what went, so a summary at or below it is never taken
// for new.
func (s *Server) prune(tx Tx, b *Box, now time.Time) error {
	cut := now.Add(-s.lim.Retention)
	for {
		seq, e, size, bad, ok, err := tx.Oldest(b.ID)
		if err != nil || !ok {
			return err
		}
		over := b.Stored > uint64(s.lim.BoxSummaries) || b.StoredBytes > uint64(s.lim.BoxBytes)
		if !bad && !over && !e.Received.Before(cut) {
			return nil
		}
		if err := tx.DeleteSummary(b.ID, seq); err != nil {
			return err
		}
		if b.Stored > 0 {
			b.Stored--
		}
		b.StoredBytes -= min(uint64(size), b.StoredBytes)
		b.Floor = max(b.Floor, seq)
	}
}

// Sweep applies retention to every box (a silent box's summaries age
// too) and drops expired sessions; `hq run` calls it hourly. It writes
// only where something is due: each commit is an fsync.
func (s *Server) Sweep() error {
	now := s.clock.Now().UTC()
	cut := now.Add(-s.lim.Retention)
	var due []string
	sessions := false
	if err := s.db.View(func(tx Tx) error {
		due, sessions = due[:0], false
		var ids []string
		if err := tx.Boxes(func(b Box) error { ids = append(ids, b.ID); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			_, e, _, bad, ok, err := tx.Oldest(id)
			if err != nil {
				return err
			}
			if ok && (bad || e.Received.Before(cut)) {
				due = append(due, id)
			}
		}
		return tx.Sessions(func(_ []byte, ss hqui.Session, bad bool) error {
			if bad || !now.Before(ss.Expires) {
				sessions = true
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, id := range due {
		if err := s.db.Update(func(tx Tx) error {
			b, ok, err := tx.Box(id)
			if err != nil || !ok {
				return err
			}
			if err := s.prune(tx, &b, now); err != nil {
				return err
			}
			return tx.PutBox(b)
		}); err != nil {
			return err
		}
	}
	if sessions {
		return s.sweepSessions(now)
	}
	return nil
}
