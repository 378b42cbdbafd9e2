package report

import (
	"time"
)

// Window is a maintenance window as the site config declares it (the
// wiring converts appliance/config's Maintenance): one-off (Start, End)
// or weekly (Days at At for Duration in Location). Its scope is a check,
// a device, a group, or the whole site when none is set.
type Window struct {
	Name                 string
	Check, Device, Group string
	Start, End           time.Time
	Weekly               *Weekly
}

// Weekly is a recurring window.
type Weekly struct {
	Days     []time.Weekday
	At       time.Duration // since midnight
	Duration time.Duration
	Location *time.Location
}

// Covers reports whether the window applies to a check, as the incident
// engine decides it.
func (w Window) Covers(check, device, group string) bool {
	switch {
	case w.Check != "":
		return w.Check == check
	case w.Device != "":
		return w.Device == device
	case w.Group != "":
		return w.Group == group
	}
	return true
}

// occurrences are the window's times that overlap [from, to).
func (w Window) occurrences(from, to time.Time) spans {
	if w.Weekly == nil {
		return spans{{w.Start, w.End}}.clip(from, to)
	}
	wk := w.Weekly
	loc := wk.Location
	if loc == nil {
		loc = time.Local
	}
	var out spans
	// Start a few days early: a long window begun before from still runs.
	lf := from.In(loc).AddDate(0, 0, -int(wk.Duration/(24*time.Hour))-1)
	day := time.Date(lf.Year(), lf.Month(), lf.Day(), 0, 0, 0, 0, loc)
	for ; day.Before(to); day = day.AddDate(0, 0, 1) {
		for _, d := range wk.Days {
			if day.Weekday() != d {
				continue
			}
			h, m := int(wk.At/time.Hour), int(wk.At%time.Hour/time.Minute)
			start := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
			out = append(out, span{start, start.Add(wk.Duration)})
		}
	}
	return out.clip(from, to).norm()
}

func windowSpans(ws []Window, from, to time.Time) spans {
	var out spans
	for _, w := range ws {
		out = append(out, w.occurrences(from, to)...)
	}
	return out.norm()
}

// covering are the windows of ws that cover a check.
func covering(ws []Window, check, device, group string) []Window {
	var out []Window
	for _, w := range ws {
		if w.Covers(check, device, group) {
			out = append(out, w)
		}
	}
	return out
}
