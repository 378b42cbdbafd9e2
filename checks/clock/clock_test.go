package clock

import (
	"testing"
	"time"
)

func TestFakeJumpMovesOnlyTheWallClock(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	tm := f.NewTimer(10 * time.Minute)
	m0 := f.Mono()
	f.Jump(-365 * 24 * time.Hour)
	f.Jump(10 * 365 * 24 * time.Hour)
	if f.Mono() != m0 {
		t.Fatal("a wall step moved the monotonic clock")
	}
	select {
	case <-tm.C():
		t.Fatal("a wall step fired a timer")
	default:
	}
	f.Advance(10 * time.Minute)
	select {
	case <-tm.C():
	default:
		t.Fatal("timer did not fire after its monotonic delay")
	}
	if got, want := f.Now(), start.Add(9*365*24*time.Hour+10*time.Minute); !got.Equal(want) {
		t.Fatalf("wall %s, want %s", got, want)
	}
}

func TestStepsReportsStepsNotElapsedTime(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	s := NewSteps(f)
	f.Advance(time.Hour)
	if step, _ := s.Check(); step != 0 {
		t.Fatalf("time passing reported as a step of %s", step)
	}
	f.Jump(time.Second) // within tolerance: NTP slew territory
	if step, _ := s.Check(); step != 0 {
		t.Fatalf("1 s drift reported as a step of %s", step)
	}
	target := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f.Advance(time.Minute)
	before := f.Now()
	f.JumpTo(target)
	step, now := s.Check()
	if want := target.Sub(before); step != want || !now.Equal(target) {
		t.Fatalf("step %s now %s, want %s", step, now, want)
	}
	f.Jump(-24 * time.Hour)
	if step, _ := s.Check(); step != -24*time.Hour {
		t.Fatalf("backward step %s", step)
	}
}

func TestRealStepsIgnoresMonotonicReading(t *testing.T) {
	// Real.Now drops the monotonic reading, so a stored reading and a
	// fresh one compare by wall time, as they do after a restart.
	if now := (Real{}).Now(); now != now.Round(0) {
		t.Fatal("Real.Now carries a monotonic reading")
	}
	s := NewSteps(Real{})
	time.Sleep(5 * time.Millisecond)
	if step, _ := s.Check(); step != 0 {
		t.Fatalf("real clock: step %s without a step", step)
	}
	if !Plausible(time.Now()) || Plausible(time.Unix(0, 0)) {
		t.Fatal("Plausible")
	}
}
