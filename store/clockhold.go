package store

import (
	"encoding/json"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/checks/clock"
)

// Retention does not trust a sudden forward step of the wall clock.
//
// A box without a real-time clock can have its clock set years ahead by
// a wrong NTP server or a typo, and retention judged by that clock would
// delete the whole history in one pass. So each forward step is held:
// for a retention of T, "now" is the clock less every step seen within
// the last T of real (monotonic) time. A step is thus trusted only once
// as much real time has passed as the retention would have kept the data
// anyway: nothing is deleted that an honest clock would have kept, and
// the extra disk used is at most one retention period. A step back
// cancels held forward steps (a wrong clock corrected) and is never
// held itself: it makes retention keep more, not less. Holds are saved
// with the results, so a restart does not lift them; time the box spends
// switched off does not count (the hold errs on keeping data).
type clockHold struct {
	Step time.Duration `json:"step"` // > 0
	Age  time.Duration `json:"age"`  // real time since the step
}

const blobClockHolds = "store-clock-holds"

type clockHolds struct {
	mu    sync.Mutex
	steps *clock.Steps
	mono  time.Duration
	holds []clockHold
	dirty bool
}

func (s *Store) loadClockHolds() error {
	s.ch.steps, s.ch.mono = clock.NewSteps(s.o.Clock), s.o.Clock.Mono()
	return s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketBlobs).Get([]byte(blobClockHolds)); v != nil {
			// A damaged record is dropped: at worst retention trusts the
			// clock as it did before holds existed.
			json.Unmarshal(v, &s.ch.holds)
		}
		return nil
	})
}

// observeClock ages the holds by the real time passed since the last
// call, records a step seen since, and returns the wall time now.
func (s *Store) observeClock() time.Time {
	h := &s.ch
	h.mu.Lock()
	defer h.mu.Unlock()
	step, now := h.steps.Check()
	mono := s.o.Clock.Mono()
	if elapsed := mono - h.mono; elapsed > 0 && len(h.holds) > 0 {
		for i := range h.holds {
			h.holds[i].Age += elapsed
		}
		h.dirty = true
	}
	h.mono = mono
	switch {
	case step > 0:
		h.holds = append(h.holds, clockHold{Step: step})
		h.dirty = true
	case step < 0:
		back := -step
		for i := len(h.holds) - 1; i >= 0 && back > 0; i-- {
			c := min(back, h.holds[i].Step)
			h.holds[i].Step -= c
			back -= c
		}
		h.dirty = true
	}
	longest := max(s.o.RawRetention, s.o.Rollup5mRetention, s.o.Rollup1hRetention)
	kept := h.holds[:0]
	for _, x := range h.holds {
		if x.Step > 0 && x.Age < longest {
			kept = append(kept, x)
		}
	}
	h.holds = kept
	return now
}

// heldNow is now as retention of the given length may trust it.
func (s *Store) heldNow(now time.Time, retention time.Duration) time.Time {
	s.ch.mu.Lock()
	defer s.ch.mu.Unlock()
	for _, x := range s.ch.holds {
		if x.Age < retention {
			now = now.Add(-x.Step)
		}
	}
	return now
}

// saveClockHolds writes the holds in tx when they changed.
func (s *Store) saveClockHolds(tx *bolt.Tx) error {
	s.ch.mu.Lock()
	defer s.ch.mu.Unlock()
	if !s.ch.dirty {
		return nil
	}
	doc, _ := json.Marshal(s.ch.holds)
	if err := tx.Bucket(bucketBlobs).Put([]byte(blobClockHolds), doc); err != nil {
		return err
	}
	s.ch.dirty = false
	return nil
}

// ClockHolds reports the forward clock steps retention is holding back
// and how much real time has passed since each.
func (s *Store) ClockHolds() []clockHold {
	s.ch.mu.Lock()
	defer s.ch.mu.Unlock()
	return append([]clockHold(nil), s.ch.holds...)
}
