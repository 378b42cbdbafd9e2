package ui

import (
	"strconv"
	"testing"
	"time"

	"outpost/checks"
)

// The Older link of a page continues at the oldest line shown, leaving
// out the lines of its millisecond already shown, also when a whole
// page shares one millisecond.
func TestOlderPageSkipsWhatWasShown(t *testing.T) {
	t0 := time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC)
	ev := func(ms ...int) []checks.Event {
		var out []checks.Event
		for _, m := range ms {
			out = append(out, checks.Event{Time: t0.Add(time.Duration(m) * time.Millisecond)})
		}
		return out
	}
	at := func(ms int) string {
		return strconv.FormatInt(t0.Add(time.Duration(ms)*time.Millisecond).UnixMilli(), 10)
	}
	for _, tc := range []struct {
		name       string
		q          LogQuery
		events     []checks.Event
		before     string
		skip, keep string
	}{
		{"distinct times", LogQuery{Device: "fw"}, ev(9, 8, 7), at(7), "1", "fw"},
		{"ties at the end", LogQuery{}, ev(9, 7, 7, 7), at(7), "3", ""},
		{"a page within one millisecond", LogQuery{Before: t0.Add(7 * time.Millisecond).UnixMilli(), Skip: 3}, ev(7, 7), at(7), "5", ""},
		{"after a tied page", LogQuery{Before: t0.Add(7 * time.Millisecond).UnixMilli(), Skip: 3}, ev(7, 6), at(6), "1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := olderPage(tc.q, tc.events)
			if v.Get("before") != tc.before || v.Get("skip") != tc.skip || v.Get("device") != tc.keep {
				t.Fatalf("older page %v, want before=%s skip=%s device=%q", v, tc.before, tc.skip, tc.keep)
			}
		})
	}
}
