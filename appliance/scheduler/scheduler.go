// Package scheduler runs every check at its own interval. Each check has a
// fixed phase inside its interval derived from its id (deterministic
// jitter), so a thousand checks at 60 s spread over the minute instead of
// firing together, and restarts keep the same rhythm. A check never
// overlaps itself, a worker pool caps concurrency, and the lateness of
// every start (actual minus planned) is measured.
package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// Job is one check to schedule.
type Job struct {
	Spec    checks.Spec
	Checker checks.Checker
}

// Options configure a Scheduler.
type Options struct {
	Clock clock.Clock
	// Concurrency caps checks running at once.
	Concurrency int
	// OnResult receives every result, from worker goroutines: serially for
	// one check, concurrently across checks.
	OnResult func(checks.Spec, checks.Result)
	// Grace is how long in-flight checks may finish after Run's context
	// ends before they are cancelled (default 5 s).
	Grace time.Duration
	Log   *slog.Logger
}

// Scheduler runs jobs on their schedules. Create with New, then Set the
// jobs and call Run.
type Scheduler struct {
	o     Options
	mu    sync.Mutex
	jobs  map[string]*entry
	queue entryHeap
	wake  chan struct{}
	// fast and slow are the two lanes of workers: a check whose last run
	// used up its timeout (a target that accepts and never answers) runs
	// in the slow lane, which has a quarter of the workers, so a
	// thousand hanging targets cannot starve the healthy checks.
	fast, slow chan dispatch
	running    atomic.Bool
	laneMu     sync.RWMutex // RunNow sends under R; Run closes the lanes under W

	lateness *Histogram
	runs     atomic.Uint64
	skipped  atomic.Uint64
	queued   atomic.Uint64 // dispatched to the workers
	finished atomic.Uint64 // dispatches done with: run (check unlocked) or skipped
	stale    atomic.Uint64 // queued runs dropped: their next slot had come
	inflight atomic.Int64

	runCtx   context.Context // cancelled Grace after Run's ctx ends
	runCtxMu sync.Mutex
}

type entry struct {
	job   Job
	phase time.Duration
	// next is the planned start on the monotonic clock (Clock.Mono), so
	// that a step of the wall clock neither stalls the schedule (a step
	// back) nor fires every missed run at once (a step forward).
	next  time.Duration
	index int // in the heap; -1 when removed
	busy  sync.Mutex
	gen   uint64
	// slow: the last run took (nearly) its whole timeout. behind: the
	// last planned run was dropped as stale (the check misses its
	// schedule).
	slow, behind atomic.Bool
}

type dispatch struct {
	e       *entry
	planned time.Duration // monotonic
	// now is set for a RunNow: it waits for the check instead of
	// skipping, is never stale, and gets the result back.
	now *runNow
}

type runNow struct {
	ctx   context.Context
	reply chan runReply
}

type runReply struct {
	r  checks.Result
	ok bool
}

// New returns a Scheduler with no jobs.
func New(o Options) *Scheduler {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.OnResult == nil {
		o.OnResult = func(checks.Spec, checks.Result) {}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Scheduler{
		o:        o,
		jobs:     map[string]*entry{},
		wake:     make(chan struct{}, 1),
		fast:     make(chan dispatch, 4096),
		slow:     make(chan dispatch, 4096),
		lateness: NewHistogram(),
		runCtx:   context.Background(),
	}
}

// Phase is the check's fixed offset inside its interval.
//
// Phases sit on a grid of Quantum(interval): checks whose phases share a
// slot start together, so the box wakes a few times a second for a batch
// of checks rather than once per check. Waking an idle process costs
// more CPU than a loopback HTTP check itself (about 170 µs against 50 µs
// measured here), while the grid still spreads a thousand checks over
// hundreds of slots.
func Phase(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	p := time.Duration(h.Sum64() % uint64(interval))
	return p - p%Quantum(interval)
}

// Quantum is the phase grid for an interval: a hundredth of it, at most
// 100 ms (a 1 s check keeps 10 ms slots; 30 s and longer, 100 ms slots).
// Larger slots save a little more CPU but make the checks of one slot
// wait for each other to start.
func Quantum(interval time.Duration) time.Duration {
	return max(min(interval/100, 100*time.Millisecond), time.Millisecond)
}

// NextRun returns the first planned start at or after t for a check with
// this id and interval: slots are at phase + k*interval since the epoch.
func NextRun(id string, interval time.Duration, t time.Time) time.Time {
	phase := Phase(id, interval)
	ns := t.UnixNano() - int64(phase)
	k := ns / int64(interval)
	slot := time.Unix(0, k*int64(interval)+int64(phase))
	if slot.Before(t) {
		slot = slot.Add(interval)
	}
	return slot
}

// Set replaces the scheduled jobs. Jobs whose id, interval and kind are
// unchanged keep their place in the schedule; removed jobs' checkers are
// closed once idle.
func (s *Scheduler) Set(jobs []Job) {
	now, mono := s.o.Clock.Now(), s.o.Clock.Mono()
	s.mu.Lock()
	old := s.jobs
	s.jobs = make(map[string]*entry, len(jobs))
	s.queue = s.queue[:0]
	for _, j := range jobs {
		e := &entry{job: j, phase: Phase(j.Spec.ID, j.Spec.Interval)}
		if prev, ok := old[j.Spec.ID]; ok && prev.job.Spec.Interval == j.Spec.Interval {
			e.next = prev.next
			delete(old, j.Spec.ID)
		} else {
			e.next = mono + NextRun(j.Spec.ID, j.Spec.Interval, now).Sub(now)
		}
		s.jobs[j.Spec.ID] = e
		s.queue = append(s.queue, e)
	}
	heap.Init(&s.queue)
	s.mu.Unlock()
	for _, e := range old {
		go func(e *entry) {
			e.busy.Lock()
			defer e.busy.Unlock()
			if c, ok := e.job.Checker.(checks.Closer); ok {
				c.Close()
			}
		}(e)
	}
	s.poke()
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run dispatches checks until ctx ends, then lets in-flight checks finish
// for up to Grace before cancelling them, and returns when all are done.
func (s *Scheduler) Run(ctx context.Context) error {
	runCtx, cancelRuns := context.WithCancel(context.Background())
	defer cancelRuns()
	s.runCtxMu.Lock()
	s.runCtx = runCtx
	s.runCtxMu.Unlock()

	var wg sync.WaitGroup
	slowN := s.o.Concurrency / 4
	for i := 0; i < s.o.Concurrency; i++ {
		lane := s.fast
		if i < slowN {
			lane = s.slow
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range lane {
				s.execute(runCtx, d)
			}
		}()
	}
	if slowN == 0 {
		// Too few workers for two lanes: one serves both.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range s.slow {
				s.execute(runCtx, d)
			}
		}()
	}
	s.running.Store(true)
	s.loop(ctx)
	s.laneMu.Lock()
	s.running.Store(false)
	close(s.fast)
	close(s.slow)
	s.laneMu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.o.Grace):
		cancelRuns()
		// A check that ignores its cancelled context (a library call
		// blocked in the kernel) is abandoned after a moment: its result
		// would be dropped anyway, and stopping must not wait for its
		// timeout (systemd kills a daemon that does).
		select {
		case <-done:
		case <-time.After(abandonAfter):
			s.o.Log.Warn("stopping with checks still running past their cancellation", "in_flight", s.inflight.Load())
		}
	}
	return nil
}

// abandonAfter is how long Run waits for checks to return once their
// contexts are cancelled.
const abandonAfter = time.Second

func (s *Scheduler) loop(ctx context.Context) {
	t := s.o.Clock.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		now := s.o.Clock.Mono()
		var due []dispatch
		for len(s.queue) > 0 && s.queue[0].next <= now {
			e := s.queue[0]
			due = append(due, dispatch{e: e, planned: e.next})
			e.next += e.job.Spec.Interval
			if e.next < now {
				// We fell behind (machine suspended, stalled): skip missed
				// slots rather than running them all at once, keeping
				// the check's phase.
				iv := e.job.Spec.Interval
				e.next += (now - e.next + iv - 1) / iv * iv
			}
			heap.Fix(&s.queue, 0)
		}
		wait := time.Hour
		if len(s.queue) > 0 {
			wait = s.queue[0].next - now
		}
		s.mu.Unlock()
		for _, d := range due {
			s.queued.Add(1)
			lane := s.fast
			if d.e.slow.Load() {
				lane = s.slow
			}
			select {
			case lane <- d:
			default:
				// The lane is backed up: never block the schedule for it
				// (the other lane's checks are due too); this run is
				// dropped and counted like a stale one.
				s.dropStale(d.e)
			}
		}
		if len(due) > 0 {
			continue
		}
		t.Reset(wait)
		if s.o.Clock.Mono()-now > time.Millisecond {
			// Time jumped while we computed the wait (a stepped test
			// clock, a stalled machine): recompute rather than oversleep.
			t.Stop()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// dropStale counts a planned run that will not happen.
func (s *Scheduler) dropStale(e *entry) {
	s.stale.Add(1)
	s.finished.Add(1)
	e.behind.Store(true)
}

func (s *Scheduler) execute(runCtx context.Context, d dispatch) {
	e := d.e
	if d.now != nil {
		s.executeNow(runCtx, d)
		return
	}
	if late := s.o.Clock.Mono() - d.planned; late > e.job.Spec.Interval {
		// Waited in the queue past the check's next slot: running it
		// now would only delay everything behind it.
		s.dropStale(e)
		return
	}
	defer s.finished.Add(1) // deferred first: counts after the unlock below
	if !e.busy.TryLock() {
		// The previous run of this check is still going: never overlap.
		s.skipped.Add(1)
		return
	}
	defer e.busy.Unlock()
	e.behind.Store(false)
	start := s.o.Clock.Mono()
	s.lateness.Observe(start - d.planned)
	r, ok := s.runOne(runCtx, e, s.o.Clock.Now())
	s.judgeSlow(e, s.o.Clock.Mono()-start)
	if ok {
		s.o.OnResult(e.job.Spec, r)
	}
}

// judgeSlow moves a check to the slow lane when its run used up (nine
// tenths of) its timeout, and back when it answers in time again.
func (s *Scheduler) judgeSlow(e *entry, took time.Duration) {
	e.slow.Store(took >= e.job.Spec.Timeout*9/10)
}

// executeNow runs a RunNow dispatch: it waits for a run in progress, and
// ends early if the caller gives up.
func (s *Scheduler) executeNow(runCtx context.Context, d dispatch) {
	defer s.finished.Add(1)
	e := d.e
	ctx, cancel := context.WithCancel(runCtx)
	defer cancel()
	stop := context.AfterFunc(d.now.ctx, cancel)
	defer stop()
	e.busy.Lock()
	defer e.busy.Unlock()
	start := s.o.Clock.Mono()
	r, ok := s.runOne(ctx, e, s.o.Clock.Now())
	s.judgeSlow(e, s.o.Clock.Mono()-start)
	if ok {
		s.o.OnResult(e.job.Spec, r)
	}
	d.now.reply <- runReply{r, ok}
}

// runOne runs a check with its timeout. ok is false when the run was
// cancelled by shutdown: such a result says nothing about the target.
func (s *Scheduler) runOne(parent context.Context, e *entry, start time.Time) (r checks.Result, ok bool) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(parent, e.job.Spec.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			s.o.Log.Error("check panicked", "check", e.job.Spec.ID, "panic", p)
			r = checks.Result{Time: start, Status: checks.Unknown, Detail: fmt.Sprintf("internal error: check panicked: %v", p)}
			ok = true
		}
	}()
	r = e.job.Checker.Check(ctx)
	if parent.Err() != nil {
		return r, false
	}
	if r.Time.IsZero() {
		r.Time = start
	}
	s.runs.Add(1)
	return r, true
}

// ErrUnknownCheck is returned by RunNow for an id that is not scheduled.
var ErrUnknownCheck = errors.New("no such check")

// RunNow runs one check at once, outside its schedule (a "run now" button,
// a healing re-check). It waits for a run already in progress to finish
// first, and delivers the result to OnResult like a scheduled run.
func (s *Scheduler) RunNow(ctx context.Context, id string) (checks.Result, error) {
	s.mu.Lock()
	e, ok := s.jobs[id]
	s.mu.Unlock()
	if !ok {
		return checks.Result{}, fmt.Errorf("%w: %q", ErrUnknownCheck, id)
	}
	s.laneMu.RLock()
	if s.running.Load() {
		// Through the worker pool like every run, so re-checks count
		// against the concurrency cap and their lane.
		rn := &runNow{ctx: ctx, reply: make(chan runReply, 1)}
		lane := s.fast
		if e.slow.Load() {
			lane = s.slow
		}
		s.queued.Add(1)
		select {
		case lane <- dispatch{e: e, planned: s.o.Clock.Mono(), now: rn}:
			s.laneMu.RUnlock()
		case <-ctx.Done():
			s.laneMu.RUnlock()
			s.finished.Add(1)
			return checks.Result{}, ctx.Err()
		}
		select {
		case rep := <-rn.reply:
			if !rep.ok {
				if err := ctx.Err(); err != nil {
					return rep.r, err
				}
				return rep.r, context.Canceled // the daemon is stopping
			}
			return rep.r, nil
		case <-ctx.Done():
			return checks.Result{}, ctx.Err()
		}
	}
	s.laneMu.RUnlock()
	e.busy.Lock()
	defer e.busy.Unlock()
	r, ok := s.runOne(ctx, e, s.o.Clock.Now())
	if !ok {
		return r, ctx.Err()
	}
	s.o.OnResult(e.job.Spec, r)
	return r, nil
}

// Planned is one check's place in the schedule.
type Planned struct {
	Spec  checks.Spec
	Phase time.Duration
	Next  time.Time
}

// Plan returns every job with its next planned start, soonest first.
func (s *Scheduler) Plan() []Planned {
	now, mono := s.o.Clock.Now(), s.o.Clock.Mono()
	s.mu.Lock()
	defer s.mu.Unlock()
	q := make(entryHeap, len(s.queue))
	copy(q, s.queue)
	out := make([]Planned, 0, len(q))
	for _, e := range q {
		out = append(out, Planned{Spec: e.job.Spec, Phase: e.phase, Next: now.Add(e.next - mono)})
	}
	sortPlanned(out)
	return out
}

// Stats are the scheduler's counters.
type Stats struct {
	Jobs    int
	Runs    uint64
	Skipped uint64
	// Stale counts planned runs dropped because they waited past the
	// check's next slot (workers busy with hanging targets); Behind is how
	// many checks had their last planned run dropped so: they miss their
	// schedule.
	Stale    uint64
	Behind   int
	InFlight int64
	Lateness *Histogram
}

// Stats returns current counters; Lateness is live (read-only use).
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	n, behind := len(s.jobs), 0
	for _, e := range s.jobs {
		if e.behind.Load() {
			behind++
		}
	}
	s.mu.Unlock()
	return Stats{Jobs: n, Runs: s.runs.Load(), Skipped: s.skipped.Load(), Stale: s.stale.Load(), Behind: behind, InFlight: s.inflight.Load(), Lateness: s.lateness}
}

type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next < h[j].next }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) { e := x.(*entry); e.index = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

func sortPlanned(p []Planned) {
	sortSlice(p, func(a, b Planned) bool {
		return a.Next.Before(b.Next) || (a.Next.Equal(b.Next) && a.Spec.ID < b.Spec.ID)
	})
}
