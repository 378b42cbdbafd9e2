package store

import (
	"path/filepath"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// feedMinutes appends one result a minute for n minutes of real time,
// stamped by the (possibly stepped) wall clock, flushing every hour.
func feedMinutes(t *testing.T, s *Store, fc *clock.Fake, id string, n int) {
	t.Helper()
	for m := 0; m < n; m++ {
		fc.Advance(time.Minute)
		s.Append(id, checks.Result{Time: fc.Now(), Status: checks.OK, Latency: time.Millisecond}.WithValue(float64(m)))
		if m%60 == 59 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Maintain(); err != nil {
		t.Fatal(err)
	}
}

func countResults(t *testing.T, s *Store, id string) []checks.Result {
	t.Helper()
	rs, err := s.Results(id, time.Unix(0, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// A clock stepped ten years ahead (a wrong NTP server) must not make one
// retention pass delete the history: raw results of before the step go
// only once 48 h of real time have passed, hourly rollups are kept, and
// the hold survives a restart.
func TestForwardClockStepDoesNotWipeHistory(t *testing.T) {
	start := time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(start)
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := Open(path, Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	feedMinutes(t, s, fc, "web", 3*24*60)
	before := len(countResults(t, s, "web"))
	h1, _ := s.Rollups("web", Res1h, start, start.Add(4*24*time.Hour))
	if before < 47*60 || len(h1) < 70 {
		t.Fatalf("set-up: %d raw, %d hourly", before, len(h1))
	}
	fc.Jump(10 * 365 * 24 * time.Hour)
	feedMinutes(t, s, fc, "web", 60)
	if got := len(countResults(t, s, "web")); got < before {
		t.Fatalf("a forward step of 10 years deleted raw history at once: %d results, had %d", got, before)
	}
	if holds := s.ClockHolds(); len(holds) != 1 || holds[0].Step != 10*365*24*time.Hour {
		t.Fatalf("holds %+v", holds)
	}
	s.Close()
	if s, err = Open(path, Options{Clock: fc}); err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	feedMinutes(t, s, fc, "web", 60)
	if got := len(countResults(t, s, "web")); got < before {
		t.Fatalf("after a restart the step was trusted: %d results, had %d", got, before)
	}
	// 48 h of real time later the pre-step raw results have aged out for
	// real: they go; the hourly rollups of those days stay (400 d).
	feedMinutes(t, s, fc, "web", 48*60)
	for _, r := range countResults(t, s, "web") {
		if r.Time.Before(start.Add(10 * 365 * 24 * time.Hour)) {
			t.Fatalf("raw result of %s kept past 48 h of real time", r.Time)
		}
	}
	h1, _ = s.Rollups("web", Res1h, start, start.Add(4*24*time.Hour))
	if len(h1) < 70 {
		t.Fatalf("hourly rollups of before the step: %d left", len(h1))
	}
}

// A step forward then corrected back (the wrong server replaced) cancels
// the hold, so retention goes on as if neither happened.
func TestCorrectedStepCancelsHold(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC))
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{Clock: fc})
	feedMinutes(t, s, fc, "web", 60)
	fc.Jump(5 * 365 * 24 * time.Hour)
	feedMinutes(t, s, fc, "web", 10)
	fc.Jump(-5 * 365 * 24 * time.Hour)
	feedMinutes(t, s, fc, "web", 10)
	if holds := s.ClockHolds(); len(holds) != 0 {
		t.Fatalf("holds after the correction: %+v", holds)
	}
}

// Results written after the clock steps back are all kept and read back
// in the order they were taken, in the same process and after a restart;
// none overwrites an older one.
func TestBackwardClockStepKeepsOrder(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := Open(path, Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	add := func(k int) {
		for i := 0; i < k; i++ {
			fc.Advance(10 * time.Second)
			s.Append("web", checks.Result{Time: fc.Now(), Status: checks.OK}.WithValue(float64(n)))
			n++
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	add(500)
	fc.Jump(-24 * time.Hour)
	add(500)
	s.Close()
	if s, err = Open(path, Options{Clock: fc}); err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	fc.JumpTo(time.Unix(0, 0))
	add(500)
	rs := countResults(t, s, "web")
	if len(rs) != n {
		t.Fatalf("%d results read back, %d written", len(rs), n)
	}
	for i, r := range rs {
		if r.Value != float64(i) {
			t.Fatalf("result %d read back is the %.0fth taken", i, r.Value)
		}
		if i > 0 && r.Time.Before(rs[i-1].Time) {
			t.Fatalf("result %d at %s before its predecessor at %s", i, r.Time, rs[i-1].Time)
		}
	}
	if l, ok := s.Latest("web"); !ok || l.Value != float64(n-1) {
		t.Fatalf("latest %+v", l)
	}
}
