// Package clock lets time be injected, so that schedules, escalations and
// retention are tested in milliseconds instead of minutes, and so that
// tests can step the wall clock the way NTP does on a box without a
// real-time clock.
//
// Two readings matter and they differ on a box: the wall clock (Now),
// which boots at 1970 or at the last saved time and may be stepped by
// hours or years later, and the monotonic clock (Mono), which only moves
// forward at the pace of real time. Timestamps that are stored or shown
// come from Now; intervals, deadlines and rate windows measured inside the
// process come from Mono, so a step neither stalls them nor fires them
// early. Steps tells code that keeps wall-clock deadlines (saved
// reminders) by how much to move them.
package clock

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Clock is the part of package time that Outpost uses.
type Clock interface {
	// Now is the wall clock: stored and displayed times.
	Now() time.Time
	// Mono is monotonic time since an arbitrary origin: it never steps,
	// so differences of two readings are true elapsed times.
	Mono() time.Duration
	// NewTimer returns a timer firing once after d of monotonic time.
	NewTimer(d time.Duration) Timer
}

// Timer is a stoppable one-shot timer.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset changes the timer to fire after d.
	Reset(d time.Duration)
}

// MinPlausible is the earliest wall time a correct clock can read: this
// code did not exist before it. A clock reading earlier is certainly
// wrong (a box without RTC boots at 1970); later readings may still be
// wrong, which only a time source can tell (docs/time.md).
var MinPlausible = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Plausible reports whether t can be a correct reading of today's date.
func Plausible(t time.Time) bool { return !t.Before(MinPlausible) }

// Real is the wall clock.
type Real struct{}

// origin anchors Real.Mono: time.Since uses the monotonic reading that
// time.Now carries, which wall clock steps do not change.
var origin = time.Now()

// Now returns time.Now() without its monotonic reading, so that code
// comparing two readings sees a step as it is, exactly as under Fake,
// and measures elapsed time with Mono instead.
func (Real) Now() time.Time { return time.Now().Round(0) }

// Mono returns the monotonic time since the process started.
func (Real) Mono() time.Duration { return time.Since(origin) }

// NewTimer wraps time.NewTimer (which runs on the monotonic clock).
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Stop() bool            { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }

// Fake is a manual clock for tests: time moves only when Advance, Set or
// Jump is called. Advance and Set move both readings and fire due
// timers; Jump steps only the wall clock, as NTP or an operator does.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	mono   time.Duration
	timers []*fakeTimer
}

// NewFake returns a Fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t, mono: time.Hour} }

// Now returns the fake wall time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Mono returns the fake monotonic time.
func (f *Fake) Mono() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono
}

// NewTimer returns a timer driven by Advance.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, c: make(chan time.Time, 1), when: f.mono + d, active: true}
	f.timers = append(f.timers, t)
	if d <= 0 {
		f.fireLocked()
	}
	return t
}

// Advance lets d of real time pass: both readings move forward by d, and
// due timers fire in deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d < 0 {
		d = 0
	}
	f.now = f.now.Add(d)
	f.mono += d
	f.fireLocked()
}

// Set lets time pass until the wall clock reads t (forward only).
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := t.Sub(f.now); d > 0 {
		f.now = t
		f.mono += d
	}
	f.fireLocked()
}

// Jump steps the wall clock by d, forward or backward, without time
// passing: the monotonic clock and timers do not move.
func (f *Fake) Jump(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// JumpTo steps the wall clock to t without time passing.
func (f *Fake) JumpTo(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}

// Waiters returns how many timers are armed; tests use it to wait until a
// goroutine has reached its sleep before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if t.active {
			n++
		}
	}
	return n
}

func (f *Fake) fireLocked() {
	sort.Slice(f.timers, func(i, j int) bool { return f.timers[i].when < f.timers[j].when })
	kept := f.timers[:0]
	for _, t := range f.timers {
		if t.active && t.when <= f.mono {
			t.active = false
			select {
			case t.c <- f.now:
			default:
			}
		}
		if t.active {
			kept = append(kept, t)
		}
	}
	f.timers = kept
}

type fakeTimer struct {
	f      *Fake
	c      chan time.Time
	when   time.Duration // on the monotonic clock
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.when = t.f.mono + d
	if !t.active {
		t.active = true
		t.f.timers = append(t.f.timers, t)
	}
	t.f.fireLocked()
}

// StepTolerance is how far the wall clock may drift from the monotonic
// clock between two readings before Steps calls it a step: NTP slews
// small errors (at most 0.5 ms/s) and steps large ones.
const StepTolerance = 2 * time.Second

// Steps detects steps of the wall clock. Code that keeps deadlines or
// timestamps in wall time calls Check on each tick and moves what it
// keeps by the step, so a reminder due in ten minutes stays ten minutes
// away whichever way the clock moved. Not safe for concurrent use.
type Steps struct {
	c    Clock
	wall time.Time
	mono time.Duration
}

// NewSteps starts watching c from now.
func NewSteps(c Clock) *Steps {
	return &Steps{c: c, wall: c.Now().Round(0), mono: c.Mono()}
}

// Check returns how far the wall clock stepped since the previous call,
// beyond the real time that passed (0 when within StepTolerance), and
// the wall time now.
func (s *Steps) Check() (step time.Duration, now time.Time) {
	now, mono := s.c.Now().Round(0), s.c.Mono()
	step = now.Sub(s.wall) - (mono - s.mono)
	s.wall, s.mono = now, mono
	if step > -StepTolerance && step < StepTolerance {
		return 0, now
	}
	return step, now
}

// FormatStep writes a clock step for people: "+3d4h", "-1h0m0s",
// "+10y2d" (a year is 365 days).
func FormatStep(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	const day = 24 * time.Hour
	if d < 2*day {
		return sign + d.Round(time.Second).String()
	}
	years, days := int64(d/(365*day)), int64(d%(365*day)/day)
	hours := int64(d % day / time.Hour)
	switch {
	case years > 0:
		return fmt.Sprintf("%s%dy%dd", sign, years, days)
	default:
		return fmt.Sprintf("%s%dd%dh", sign, days, hours)
	}
}
