package main

import (
	"testing"
	"time"
)

// Ceilings for the end-to-end waits on what a real process does: start,
// answer, pair, collect, deliver, stop. They are generous on purpose: a
// machine busy with other work (another `go test`, a CI neighbour) runs
// these processes many times slower than an idle one. A wait returns as
// soon as its event happens, so a generous ceiling costs nothing when
// things work; it only decides how long a real failure takes to report.
const (
	// patience bounds one awaited event.
	patience = 90 * time.Second
	// pollEvery is how often a wait looks again.
	pollEvery = 100 * time.Millisecond
)

// waitFor polls f until it returns "" (the awaited event happened). Until
// then f returns the state it observed, never "". If ceiling passes first,
// the test fails naming what it waited for and the last observed state.
func waitFor(t testing.TB, what string, ceiling time.Duration, f func() string) {
	t.Helper()
	start := time.Now()
	for {
		state := f()
		if state == "" {
			return
		}
		if time.Since(start) > ceiling {
			t.Fatalf("waited %s for %s; last observed:\n%s", ceiling, what, state)
		}
		time.Sleep(pollEvery)
	}
}
