package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// waitArmed blocks until Run has armed both its timers again, i.e. it has
// finished handling the last tick and sits in its select.
func waitArmed(fc *clock.Fake) {
	for fc.Waiters() < 2 {
		runtime.Gosched()
	}
}

// TestRunCommitsAtMostOncePerInterval drives Run on a fake clock through
// three days and an hour of 40 checks: every rollup and retention job is done, yet
// the file never sees more than one commit per flush interval.
func TestRunCommitsAtMostOncePerInterval(t *testing.T) {
	fc := clock.NewFake(t0)
	interval := 5 * time.Minute
	s := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{
		Clock: fc, FlushInterval: interval, MaintainEvery: 10 * time.Minute,
		RawRetention: 30 * time.Hour, Rollup5mRetention: 48 * time.Hour,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	const nChecks = 40
	ticks := 0
	for tm := t0; tm.Before(t0.Add(73 * time.Hour)); tm = tm.Add(interval) {
		waitArmed(fc)
		for c := 0; c < nChecks; c++ {
			st := checks.OK
			if c == 0 && tm.Hour() == 3 {
				st = checks.Critical
			}
			s.Append(fmt.Sprintf("c%02d", c), checks.Result{Time: tm, Status: st, Latency: time.Millisecond}.WithValue(float64(c)))
		}
		fc.Advance(interval)
		ticks++
	}
	waitArmed(fc)
	// Everything pending at the last tick is flushed by it; the final
	// flush on cancel has nothing left to commit.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	now := fc.Now()
	st := s.Stats()
	if st.Commits > uint64(ticks) {
		t.Fatalf("%d commits in %d flush intervals", st.Commits, ticks)
	}
	if st.ResultsWritten != uint64(ticks*nChecks) || st.Pending != 0 {
		t.Fatalf("stats %+v after %d ticks", st, ticks)
	}
	for c := 0; c < nChecks; c++ {
		id := fmt.Sprintf("c%02d", c)
		raw, err := s.Results(id, t0, now)
		if err != nil {
			t.Fatal(err)
		}
		if oldest := raw[0].Time; oldest.Before(now.Add(-30*time.Hour - blockMaxSpan)) {
			t.Fatalf("%s: raw result of %v kept past 30h retention at %v", id, oldest, now)
		}
		h, err := s.Rollups(id, Res1h, t0, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 73 || h[0].Count != 12 || h[0].ValueMean != float64(c) {
			t.Fatalf("%s: %d hourly rollups, first %+v", id, len(h), h[0])
		}
		if c == 0 && (h[3].Failures != 12 || h[27].Failures != 12 || h[4].Failures != 0) {
			t.Fatalf("failures not rolled up: %+v %+v %+v", h[3], h[27], h[4])
		}
		r5, _ := s.Rollups(id, Res5m, t0, now)
		if r5[0].Start.Before(t0.Add(24 * time.Hour)) {
			t.Fatalf("%s: 5-minute rollup of %v kept past 48h retention", id, r5[0].Start)
		}
	}
}
