package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// funcChecker adapts a function to checks.Checker.
type funcChecker func(ctx context.Context) checks.Result

func (f funcChecker) Check(ctx context.Context) checks.Result { return f(ctx) }

func okChecker() checks.Checker {
	return funcChecker(func(context.Context) checks.Result { return checks.Result{Status: checks.OK} })
}

func job(id string, interval time.Duration, c checks.Checker) Job {
	return Job{Spec: checks.Spec{ID: id, Kind: "test", Interval: interval, Timeout: interval}, Checker: c}
}

// waitArmed waits until the scheduler loop sleeps on the fake clock, so an
// Advance is seen by it.
func waitArmed(t *testing.T, fc *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fc.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("scheduler never waited on the clock")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// waitIdle is waitArmed plus every dispatched run finished: fake time
// must not run ahead of the workers, or a check's next slot finds its
// previous run still going (real time) and is skipped.
func waitIdle(t *testing.T, fc *clock.Fake, s *Scheduler) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fc.Waiters() == 0 || s.finished.Load() < s.queued.Load() || s.duePending() {
		if time.Now().After(deadline) {
			t.Fatal("scheduler never waited on the clock")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// duePending says a run is due that the scheduler's loop has not
// dispatched yet: it has not woken from the clock's last step. (Another
// timer on the fake clock, a worker's, may be waiting meanwhile.)
func (s *Scheduler) duePending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0 && s.queue[0].next <= s.o.Clock.Mono()
}

func TestNextRunIsStableAndInsideInterval(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("c%d", i)
		n := NextRun(id, time.Minute, base)
		if n.Before(base) || !n.Before(base.Add(time.Minute)) {
			t.Fatalf("%s: next %v not within the first interval after %v", id, n, base)
		}
		if again := NextRun(id, time.Minute, n); !again.Equal(n) {
			t.Fatalf("%s: NextRun(next) = %v, want %v (slot itself)", id, again, n)
		}
		if later := NextRun(id, time.Minute, n.Add(time.Nanosecond)); !later.Equal(n.Add(time.Minute)) {
			t.Fatalf("%s: slot after %v is %v, want one interval later", id, n, later)
		}
	}
}

func TestJitterSpreadsChecksOverTheInterval(t *testing.T) {
	perSecond := map[int]int{}
	for i := 0; i < 1000; i++ {
		p := Phase(fmt.Sprintf("web-%04d", i), time.Minute)
		perSecond[int(p/time.Second)]++
	}
	if len(perSecond) < 55 {
		t.Fatalf("1000 checks at 60s use only %d distinct seconds", len(perSecond))
	}
	for sec, n := range perSecond {
		if n > 40 {
			t.Fatalf("second %d has %d of 1000 checks; want an even spread (~17)", sec, n)
		}
	}
}

func TestRunsEachCheckAtItsInterval(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	counts := map[string]int{}
	s := New(Options{Clock: fc, Concurrency: 4, OnResult: func(sp checks.Spec, r checks.Result) {
		mu.Lock()
		counts[sp.ID]++
		mu.Unlock()
	}})
	s.Set([]Job{job("fast", 10*time.Second, okChecker()), job("slow", time.Minute, okChecker())})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for i := 0; i < 600; i++ { // ten simulated minutes in 1 s steps
		waitIdle(t, fc, s)
		fc.Advance(time.Second)
	}
	waitIdle(t, fc, s)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if counts["fast"] != 60 || counts["slow"] != 10 {
		t.Fatalf("runs in 10 minutes: fast=%d (want 60) slow=%d (want 10), stats %+v", counts["fast"], counts["slow"], s.Stats())
	}
	// Lateness is not asserted here: workers read the stepped clock after
	// the test has moved it on. BenchmarkFleet measures it on real time.
	if st := s.Stats(); st.Runs != 70 {
		t.Fatalf("stats: runs=%d, want 70", st.Runs)
	}
}

func TestNeverOverlapsItself(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	release := make(chan struct{})
	var running, maxRunning, runs atomic.Int32
	slow := funcChecker(func(ctx context.Context) checks.Result {
		n := running.Add(1)
		if n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		<-release
		running.Add(-1)
		runs.Add(1)
		return checks.Result{}
	})
	s := New(Options{Clock: fc, Concurrency: 8})
	j := job("stuck", time.Second, slow)
	j.Spec.Timeout = time.Second
	s.Set([]Job{j})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for i := 0; i < 5; i++ {
		waitArmed(t, fc)
		fc.Advance(time.Second)
	}
	// Let the dispatched runs reach the lock before releasing.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Skipped < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	waitArmed(t, fc)
	cancel()
	<-done
	if maxRunning.Load() != 1 {
		t.Fatalf("check ran %d times concurrently", maxRunning.Load())
	}
	if s.Stats().Skipped < 3 {
		t.Fatalf("skipped = %d, want the overlapping slots skipped", s.Stats().Skipped)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	var running, maxRunning atomic.Int32
	c := funcChecker(func(ctx context.Context) checks.Result {
		n := running.Add(1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		return checks.Result{}
	})
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var results atomic.Int32
	s := New(Options{Clock: fc, Concurrency: 3, OnResult: func(checks.Spec, checks.Result) { results.Add(1) }})
	var jobs []Job
	for i := 0; i < 30; i++ {
		jobs = append(jobs, job(fmt.Sprintf("c%d", i), time.Minute, c))
	}
	s.Set(jobs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitArmed(t, fc)
	fc.Advance(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for results.Load() < 30 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if results.Load() != 30 {
		t.Fatalf("results = %d, want 30", results.Load())
	}
	if maxRunning.Load() > 3 || maxRunning.Load() < 2 {
		t.Fatalf("max concurrent = %d, want at most 3 (and the pool used)", maxRunning.Load())
	}
}

func TestShutdownCancelsInFlightAfterGraceAndDropsResult(t *testing.T) {
	started := make(chan struct{})
	c := funcChecker(func(ctx context.Context) checks.Result {
		close(started)
		<-ctx.Done()
		return checks.Result{Status: checks.Critical, Detail: ctx.Err().Error()}
	})
	var results atomic.Int32
	s := New(Options{Concurrency: 2, Grace: 20 * time.Millisecond, OnResult: func(checks.Spec, checks.Result) { results.Add(1) }})
	j := job("hang", time.Hour, c)
	s.Set([]Job{j})
	// Make it due now.
	s.mu.Lock()
	s.jobs["hang"].next = s.o.Clock.Mono()
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after grace")
	}
	if results.Load() != 0 {
		t.Fatal("a run cancelled by shutdown was reported as a result")
	}
}

func TestRunNowAndPanics(t *testing.T) {
	var got []checks.Result
	s := New(Options{OnResult: func(_ checks.Spec, r checks.Result) { got = append(got, r) }})
	boom := funcChecker(func(context.Context) checks.Result { panic("kaboom") })
	s.Set([]Job{job("ok", time.Minute, okChecker()), job("boom", time.Minute, boom)})
	r, err := s.RunNow(context.Background(), "ok")
	if err != nil || r.Status != checks.OK || r.Time.IsZero() {
		t.Fatalf("RunNow ok = %+v, %v", r, err)
	}
	r, err = s.RunNow(context.Background(), "boom")
	if err != nil || r.Status != checks.Unknown || r.Detail != "internal error: check panicked: kaboom" {
		t.Fatalf("RunNow boom = %+v, %v", r, err)
	}
	if _, err := s.RunNow(context.Background(), "nope"); err == nil {
		t.Fatal("RunNow of unknown check succeeded")
	}
	if len(got) != 2 {
		t.Fatalf("OnResult called %d times, want 2", len(got))
	}
}

func TestSetKeepsScheduleOfUnchangedChecks(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := New(Options{Clock: fc})
	s.Set([]Job{job("a", time.Minute, okChecker())})
	before := s.Plan()[0].Next
	s.Set([]Job{job("a", time.Minute, okChecker()), job("b", time.Minute, okChecker())})
	p := s.Plan()
	if len(p) != 2 {
		t.Fatalf("plan has %d entries", len(p))
	}
	for _, e := range p {
		if e.Spec.ID == "a" && !e.Next.Equal(before) {
			t.Fatalf("a moved from %v to %v", before, e.Next)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for i := 0; i < 99; i++ {
		h.Observe(100 * time.Microsecond)
	}
	h.Observe(50 * time.Millisecond)
	if q := h.Quantile(0.5); q < 100*time.Microsecond || q > 200*time.Microsecond {
		t.Fatalf("p50 = %v", q)
	}
	if q := h.Quantile(1); q != 50*time.Millisecond {
		t.Fatalf("max = %v", q)
	}
}

// NTP stepping the wall clock of a box without RTC, by minutes, days or
// years, either way, in the middle of the schedule: every check keeps its
// interval, none stalls and none fires a burst of missed runs.
func TestWallClockStepsNeitherStallNorBurst(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	counts := map[string]int{}
	var times []time.Time
	s := New(Options{Clock: fc, Concurrency: 4, OnResult: func(sp checks.Spec, r checks.Result) {
		mu.Lock()
		counts[sp.ID]++
		if sp.ID == "fast" {
			times = append(times, r.Time)
		}
		mu.Unlock()
	}})
	s.Set([]Job{job("fast", 10*time.Second, okChecker()), job("slow", time.Minute, okChecker())})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	steps := map[int]func(){
		60:  func() { fc.Jump(time.Hour) },
		120: func() { fc.Jump(10 * 365 * 24 * time.Hour) },
		180: func() { fc.Jump(-24 * time.Hour) },
		240: func() { fc.JumpTo(time.Unix(0, 0).UTC()) },
		300: func() { fc.JumpTo(time.Date(2031, 5, 1, 0, 5, 0, 0, time.UTC)) },
	}
	for i := 0; i < 360; i++ { // six simulated minutes in 1 s steps
		if step := steps[i]; step != nil {
			waitIdle(t, fc, s)
			step()
		}
		waitIdle(t, fc, s)
		fc.Advance(time.Second)
	}
	waitIdle(t, fc, s)
	for _, p := range s.Plan() {
		if d := p.Next.Sub(fc.Now()); d < 0 || d > p.Spec.Interval {
			t.Errorf("%s planned %s from now after the steps, want within its %s interval", p.Spec.ID, d, p.Spec.Interval)
		}
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if counts["fast"] != 36 || counts["slow"] != 6 {
		t.Fatalf("runs in 6 minutes with 5 clock steps: fast=%d (want 36) slow=%d (want 6), stats %+v", counts["fast"], counts["slow"], s.Stats())
	}
	// Results carry the wall clock of their run, stepped or not.
	var in1970 int
	for _, tm := range times {
		if tm.Year() == 1970 {
			in1970++
		}
	}
	if in1970 != 6 {
		t.Fatalf("%d results stamped in 1970 between the step there and the step back, want 6", in1970)
	}
}

// Targets that accept and never answer must not starve the healthy
// checks: once a hanging check has used up its timeout it runs in the
// slow lane (a quarter of the workers), runs that waited past their next
// slot are dropped and counted instead of piling up, and the healthy
// checks keep their rhythm. Real time, a few seconds.
func TestHangingTargetsDoNotStarveHealthyChecks(t *testing.T) {
	var mu sync.Mutex
	perCheck := map[string]int{}
	s := New(Options{Concurrency: 16, OnResult: func(sp checks.Spec, r checks.Result) {
		if strings.HasPrefix(sp.ID, "ok-") {
			mu.Lock()
			perCheck[sp.ID]++
			mu.Unlock()
		}
	}})
	hang := funcChecker(func(ctx context.Context) checks.Result {
		<-ctx.Done()
		return checks.Result{Status: checks.Critical, Detail: "timed out"}
	})
	var jobs []Job
	for i := 0; i < 60; i++ {
		jobs = append(jobs, Job{Spec: checks.Spec{ID: fmt.Sprintf("hang-%02d", i), Kind: "test", Interval: 500 * time.Millisecond, Timeout: 250 * time.Millisecond}, Checker: hang})
	}
	for i := 0; i < 20; i++ {
		jobs = append(jobs, Job{Spec: checks.Spec{ID: fmt.Sprintf("ok-%02d", i), Kind: "test", Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond}, Checker: okChecker()})
	}
	s.Set(jobs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Each hanging check moves to the slow lane once it has used up its
	// timeout; then every healthy check keeps running. Both are waited
	// for, with a generous ceiling, instead of timed.
	waitUntil := func(what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			ok, state := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waited 90 s for %s: %s; stats %+v", what, state, s.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("every hanging check in the slow lane", func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		fast := 0
		for id, e := range s.jobs {
			if strings.HasPrefix(id, "hang-") && !e.slow.Load() {
				fast++
			}
		}
		return fast == 0, fmt.Sprintf("%d hanging checks still in the fast lane", fast)
	})
	mu.Lock()
	for k := range perCheck {
		perCheck[k] = 0
	}
	mu.Unlock()
	waitUntil("20 more runs of every healthy check", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < 20; i++ {
			if id := fmt.Sprintf("ok-%02d", i); perCheck[id] < 20 {
				return false, fmt.Sprintf("%s ran %d times", id, perCheck[id])
			}
		}
		return true, ""
	})
	if st := s.Stats(); st.Stale == 0 {
		t.Fatalf("no stale run dropped beside 60 targets that need more workers than there are: %+v", st)
	}
}
