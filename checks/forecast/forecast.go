// Package forecast is the maths of capacity forecasts: the trend of a
// numeric series (a disk's used %, a toner's % left, a UPS's minutes of
// runtime) and when it crosses its warning and critical thresholds, robust
// to noise, daily cycles and resets (a replaced cartridge, a cleaned
// disk). It reads hourly buckets, as the store's rollups give them, and
// knows nothing of the store: the caller passes the buckets in.
//
// The method (docs/reports.md): the window starts at the last reset (a
// step against the direction of fill, larger than the series' noise and
// its daily swing), at most MaxWindow back. The slope is the seasonal
// Theil–Sen estimator (Hirsch's seasonal Kendall slope, with the hour of
// day as the season) once the window spans two days, so a daily cycle
// cancels exactly; over a shorter window, plain Theil–Sen. Its confidence
// interval is Sen's, from the Kendall statistic's variance. The crossing
// is judged from the daily peaks (the trend line plus the 90th percentile
// of residuals), so "full" means the busiest hour of the day is full.
package forecast

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Day is the unit slopes are given in.
const Day = 24 * time.Hour

// Bucket is one rollup bucket of a series: the values seen from Start
// for one step.
type Bucket struct {
	Start          time.Time
	Mean, Min, Max float64
	Count          int
}

// Options tune Fit. Zero fields take their defaults.
type Options struct {
	// Now is the moment forecasts count from (the caller's clock).
	Now time.Time
	// MaxWindow bounds how far back the trend looks (default 30 days).
	MaxWindow time.Duration
	// MinSpan is the history needed since the last reset before a trend
	// is given (default 12 h).
	MinSpan time.Duration
	// Below: the series alarms when it falls (toner left, battery
	// minutes); its fill direction is downwards.
	Below bool
}

func (o Options) withDefaults() Options {
	if o.MaxWindow <= 0 {
		o.MaxWindow = 30 * Day
	}
	if o.MinSpan <= 0 {
		o.MinSpan = 12 * time.Hour
	}
	return o
}

// Methods, as Trend.Method names them.
const (
	MethodSeasonal = "seasonal Theil-Sen (hour of day)"
	MethodPlain    = "Theil-Sen"
)

// Trend is the fitted line of a series over its window.
type Trend struct {
	Method string `json:"method"`
	// From and To bound the window used; Points is how many buckets.
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Points int       `json:"points"`
	// Reset is when the series last restarted (zero: no reset seen).
	Reset time.Time `json:"reset,omitzero"`
	// PerDay is the slope in units per day; Lo and Hi bound its 90 %
	// confidence interval.
	PerDay   float64 `json:"per_day"`
	PerDayLo float64 `json:"per_day_lo"`
	PerDayHi float64 `json:"per_day_hi"`
	// Level is the trend line's value at Now; Peak is the daily peak
	// around it (the trough for a Below series).
	Level float64 `json:"level"`
	Peak  float64 `json:"peak"`
	// Last is the newest bucket's mean.
	Last float64 `json:"last"`
	// Noise is the robust spread (1.4826 MAD) of the residuals.
	Noise float64 `json:"noise"`
	Below bool    `json:"below,omitempty"`
	// Now is the moment Level and Peak are given at (Options.Now).
	Now time.Time `json:"now"`
}

// ErrTooShort is what Fit returns when the history since the last reset
// is shorter than MinSpan (or has fewer than 6 buckets).
type ErrTooShort struct {
	Since time.Time
	Reset time.Time
}

func (e *ErrTooShort) Error() string {
	if !e.Reset.IsZero() {
		return fmt.Sprintf("learning: too little history since the reset at %s", e.Reset.UTC().Format(time.RFC3339))
	}
	return "learning: too little history"
}

type point struct {
	t    float64 // days relative to Now
	v    float64 // mean, sign-flipped for Below
	hour int     // season: hour of day of the bucket
	key  int64   // bucket start in hours since the epoch
}

// points turns buckets into time-ordered points within the window,
// flipping the sign for a Below series so that filling is always upwards.
func points(bs []Bucket, o Options) []point {
	from := o.Now.Add(-o.MaxWindow)
	var ps []point
	for _, b := range bs {
		if b.Count == 0 || b.Start.Before(from) || b.Start.After(o.Now) || math.IsNaN(b.Mean) || math.IsInf(b.Mean, 0) {
			continue
		}
		v := b.Mean
		if o.Below {
			v = -v
		}
		ps = append(ps, point{t: float64(b.Start.Sub(o.Now)) / float64(Day), v: v, hour: b.Start.UTC().Hour(), key: b.Start.Unix() / 3600})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].t < ps[j].t })
	return ps
}

// Fit finds the trend of a series from its hourly buckets.
func Fit(bs []Bucket, o Options) (Trend, error) {
	o = o.withDefaults()
	ps := points(bs, o)
	reset := -1
	if len(ps) >= 6 {
		reset = findReset(ps)
	}
	tr := Trend{Below: o.Below, Now: o.Now}
	if reset > 0 {
		tr.Reset = o.Now.Add(time.Duration(ps[reset].t * float64(Day)))
		ps = ps[reset:]
	}
	if len(ps) < 6 || time.Duration((ps[len(ps)-1].t-ps[0].t)*float64(Day)) < o.MinSpan {
		return tr, &ErrTooShort{Reset: tr.Reset}
	}
	tr.From = o.Now.Add(time.Duration(ps[0].t * float64(Day)))
	tr.To = o.Now.Add(time.Duration(ps[len(ps)-1].t * float64(Day)))
	tr.Points = len(ps)
	s, lo, hi, method := senSlope(ps)
	tr.Method = method
	res := make([]float64, len(ps))
	for i, p := range ps {
		res[i] = p.v - s*p.t
	}
	b := median(slices.Clone(res))
	for i := range res {
		res[i] -= b
	}
	tr.Noise = 1.4826 * median(absAll(res))
	env := quantile(slices.Clone(res), 0.9)
	tr.PerDay, tr.PerDayLo, tr.PerDayHi, tr.Level, tr.Peak, tr.Last = s, lo, hi, b, b+max(env, 0), ps[len(ps)-1].v
	if o.Below {
		tr.PerDay, tr.PerDayLo, tr.PerDayHi = -s, -hi, -lo
		tr.Level, tr.Peak, tr.Last = -tr.Level, -tr.Peak, -tr.Last
	}
	return tr, nil
}

// findReset returns the index where the series last restarted: a step
// against the fill direction (a drop) bigger than six times the noise of
// hour-to-hour differences, one and a half daily swings, and 2 % of the
// series' magnitude; -1 when there is none.
func findReset(ps []point) int {
	const k = 3
	d := make([]float64, 0, len(ps)-1)
	for i := 1; i < len(ps); i++ {
		d = append(d, ps[i].v-ps[i-1].v)
	}
	md := median(slices.Clone(d))
	for i := range d {
		d[i] = math.Abs(d[i] - md)
	}
	sigma := 1.4826 * median(d)
	swing := dailySwing(ps)
	vs := make([]float64, len(ps))
	for i, p := range ps {
		vs[i] = math.Abs(p.v)
	}
	thr := max(6*sigma, 1.5*swing, 0.02*max(median(vs), 1))
	best, bestStep, last := -1, 0.0, -k-1
	for i := 2; i+1 < len(ps); i++ {
		lo, hi := max(0, i-k), min(len(ps), i+k)
		before := median(values(ps[lo:i]))
		after := median(values(ps[i:hi]))
		step := before - after // a drop is positive
		if step <= thr {
			continue
		}
		// The last cluster of qualifying indices wins; within it, the
		// largest step marks the reset.
		if i-last > k || step > bestStep {
			best, bestStep = i, step
		}
		last = i
	}
	return best
}

// dailySwing is the median over whole days of the day's range once the
// day's own trend is taken out (max-min of the detrended values): how far
// a daily cycle moves the series.
func dailySwing(ps []point) float64 {
	byDay := map[int64][]float64{}
	for _, p := range ps {
		byDay[p.key/24] = append(byDay[p.key/24], p.v)
	}
	var ranges []float64
	for _, vs := range byDay {
		if len(vs) < 12 {
			continue
		}
		ranges = append(ranges, slices.Max(vs)-slices.Min(vs))
	}
	if len(ranges) == 0 {
		return 0
	}
	return median(ranges)
}

// senSlope is the Theil–Sen slope in units per day with its 90 %
// confidence bounds: seasonal (pairs at the same hour of day only) when
// the points span at least two days, else over every pair.
func senSlope(ps []point) (s, lo, hi float64, method string) {
	span := ps[len(ps)-1].t - ps[0].t
	var slopes []float64
	var varS float64
	if span >= 2 {
		method = MethodSeasonal
		seasons := map[int][]point{}
		for _, p := range ps {
			seasons[p.hour] = append(seasons[p.hour], p)
		}
		for _, g := range seasons {
			n := float64(len(g))
			if len(g) < 2 {
				continue
			}
			varS += n * (n - 1) * (2*n + 5) / 18
			for i := range g {
				for j := i + 1; j < len(g); j++ {
					if dt := g[j].t - g[i].t; dt > 0 {
						slopes = append(slopes, (g[j].v-g[i].v)/dt)
					}
				}
			}
		}
	}
	if len(slopes) < 3 {
		method, slopes = MethodPlain, slopes[:0]
		n := float64(len(ps))
		varS = n * (n - 1) * (2*n + 5) / 18
		for i := range ps {
			for j := i + 1; j < len(ps); j++ {
				if dt := ps[j].t - ps[i].t; dt > 0 {
					slopes = append(slopes, (ps[j].v-ps[i].v)/dt)
				}
			}
		}
	}
	sort.Float64s(slopes)
	n := float64(len(slopes))
	s = median(slopes) // sorted already; median copies nothing
	c := 1.645 * math.Sqrt(varS)
	l := int(math.Floor((n - c) / 2))
	u := int(math.Ceil((n+c)/2)) - 1
	lo, hi = slopes[max(0, min(l, len(slopes)-1))], slopes[max(0, min(u, len(slopes)-1))]
	return s, lo, hi, method
}

func values(ps []point) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = p.v
	}
	return out
}

func absAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Abs(x)
	}
	return out
}

// median sorts xs in place and returns its median (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	if !sort.Float64sAreSorted(xs) {
		sort.Float64s(xs)
	}
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// quantile sorts xs in place and returns the q-quantile by linear
// interpolation (0 for none).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}
