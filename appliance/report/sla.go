// Package report computes a site's service figures for a period and
// renders the monthly report (docs/reports.md): uptime per check, device,
// group and site from the stored status changes with maintenance windows
// left out, time to acknowledge and to resolve per severity, how incidents
// ended (self-healed or not), and capacity forecasts. It reads through
// its own Source, which the wiring adapts from the store.
package report

import (
	"math"
	"slices"
	"sort"
	"time"

	"outpost/checks"
)

// span is a half-open time interval [from, to).
type span struct{ from, to time.Time }

// spans is a set of intervals; normalised, they are sorted and disjoint.
type spans []span

func (s spans) norm() spans {
	out := slices.Clone(s)
	out = slices.DeleteFunc(out, func(x span) bool { return !x.to.After(x.from) })
	sort.Slice(out, func(i, j int) bool { return out[i].from.Before(out[j].from) })
	var m spans
	for _, x := range out {
		if n := len(m); n > 0 && !x.from.After(m[n-1].to) {
			if x.to.After(m[n-1].to) {
				m[n-1].to = x.to
			}
			continue
		}
		m = append(m, x)
	}
	return m
}

func (s spans) total() time.Duration {
	var d time.Duration
	for _, x := range s.norm() {
		d += x.to.Sub(x.from)
	}
	return d
}

// minus is s without the times in o.
func (s spans) minus(o spans) spans {
	o = o.norm()
	var out spans
	for _, x := range s.norm() {
		cur := x
		for _, y := range o {
			if !y.to.After(cur.from) || !y.from.Before(cur.to) {
				continue
			}
			if y.from.After(cur.from) {
				out = append(out, span{cur.from, y.from})
			}
			cur.from = y.to
			if !cur.to.After(cur.from) {
				break
			}
		}
		if cur.to.After(cur.from) {
			out = append(out, cur)
		}
	}
	return out
}

// clip is s within [from, to).
func (s spans) clip(from, to time.Time) spans {
	var out spans
	for _, x := range s {
		if x.from.Before(from) {
			x.from = from
		}
		if x.to.After(to) {
			x.to = to
		}
		if x.to.After(x.from) {
			out = append(out, x)
		}
	}
	return out
}

// Change is a status change of a check, as the store keeps it.
type Change struct {
	Time time.Time     `json:"time"`
	To   checks.Status `json:"to"`
}

// Uptime is a check's (or a device's, a group's) time over a period. Up
// time is measured time that was not down: warning counts as up (and as
// degraded); critical is down; unknown, and time before the first
// result, is not measured; maintenance is left out of everything else.
type Uptime struct {
	Period      time.Duration `json:"period_ns"`
	Measured    time.Duration `json:"measured_ns"`
	Down        time.Duration `json:"down_ns"`
	Degraded    time.Duration `json:"degraded_ns"`
	Maintenance time.Duration `json:"maintenance_ns"`
	// Percent is up time over measured time (NaN-free: 100 with nothing
	// measured, and HasData false).
	Percent float64 `json:"percent"`
	HasData bool    `json:"has_data"`
	// Outages counts the times the check went down in the period.
	Outages int `json:"outages"`
}

// timeline is one check's state over [from, to) from its changes: what
// was down, degraded and measured, with maintenance taken out.
type timeline struct {
	down, degraded, measured, maint spans
	outages                         int
}

// changesTimeline builds the timeline of a check from its changes (any
// before from give the state at the start) and the maintenance covering it.
func changesTimeline(chs []Change, from, to time.Time, maint spans) timeline {
	chs = slices.Clone(chs)
	sort.SliceStable(chs, func(i, j int) bool { return chs[i].Time.Before(chs[j].Time) })
	var tl timeline
	tl.maint = maint.clip(from, to).norm()
	for i, c := range chs {
		end := to
		if i+1 < len(chs) {
			end = chs[i+1].Time
		}
		sp := spans{{c.Time, end}}.clip(from, to)
		if len(sp) == 0 {
			continue
		}
		switch c.To {
		case checks.Critical:
			tl.down = append(tl.down, sp...)
			if !c.Time.Before(from) && !inside(c.Time, tl.maint) {
				tl.outages++
			}
			tl.measured = append(tl.measured, sp...)
		case checks.Warning:
			tl.degraded = append(tl.degraded, sp...)
			tl.measured = append(tl.measured, sp...)
		case checks.OK:
			tl.measured = append(tl.measured, sp...)
		}
	}
	tl.down = tl.down.minus(tl.maint)
	tl.degraded = tl.degraded.minus(tl.maint)
	tl.measured = tl.measured.minus(tl.maint)
	return tl
}

func inside(t time.Time, s spans) bool {
	for _, x := range s {
		if !t.Before(x.from) && t.Before(x.to) {
			return true
		}
	}
	return false
}

func (tl timeline) uptime(from, to time.Time) Uptime {
	u := Uptime{Period: to.Sub(from), Measured: tl.measured.total(), Down: tl.down.total(), Degraded: tl.degraded.total(), Maintenance: tl.maint.total(), Outages: tl.outages}
	u.Percent, u.HasData = 100, u.Measured > 0
	if u.HasData {
		u.Percent = 100 * float64(u.Measured-u.Down) / float64(u.Measured)
	}
	return u
}

// CheckUptime is a check's uptime over [from, to) from its status
// changes (those before from give the state at the start) and the
// maintenance windows that cover it.
func CheckUptime(chs []Change, from, to time.Time, maint []Window) Uptime {
	return changesTimeline(chs, from, to, windowSpans(maint, from, to)).uptime(from, to)
}

// union merges timelines: down while any is down, measured while any is
// measured, in maintenance only while all are (a device's checks).
func union(tls []timeline) timeline {
	var u timeline
	for i, tl := range tls {
		u.down = append(u.down, tl.down...)
		u.degraded = append(u.degraded, tl.degraded...)
		u.measured = append(u.measured, tl.measured...)
		u.outages += tl.outages
		if i == 0 {
			u.maint = tl.maint
		} else {
			u.maint = u.maint.minus(u.maint.minus(tl.maint))
		}
	}
	u.down, u.degraded, u.measured = u.down.norm(), u.degraded.minus(u.down), u.measured.norm()
	return u
}

// Stats are the mean, median and 90th percentile of durations (nearest
// rank), and how many there were.
type Stats struct {
	N      int           `json:"n"`
	Mean   time.Duration `json:"mean_ns"`
	Median time.Duration `json:"median_ns"`
	P90    time.Duration `json:"p90_ns"`
}

// StatsOf summarises ds.
func StatsOf(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	n := len(ds)
	med := ds[n/2]
	if n%2 == 0 {
		med = (ds[n/2-1] + ds[n/2]) / 2
	}
	return Stats{N: n, Mean: sum / time.Duration(n), Median: med, P90: ds[int(math.Ceil(0.9*float64(n)))-1]}
}
