package forecast

import (
	"fmt"
	"math"
	"time"
)

// Limits are a series' thresholds: a nil one is not set. Below: the
// series alarms when it falls under them.
type Limits struct {
	Warning  *float64 `json:"warning,omitempty"`
	Critical *float64 `json:"critical,omitempty"`
	Below    bool     `json:"below,omitempty"`
}

// Crossing is when a trend reaches one threshold.
type Crossing struct {
	Name      string  `json:"name"` // "warning" or "critical"
	Threshold float64 `json:"threshold"`
	// Past: the series' daily peak is already beyond the threshold.
	Past bool `json:"past,omitempty"`
	// Never: the trend does not head towards the threshold (flat or
	// moving away, within its confidence interval).
	Never bool `json:"never,omitempty"`
	// In is the central estimate; InLo and InHi bound it from the slope's
	// confidence interval (InHi 0 with Bounded false: no upper bound).
	In      time.Duration `json:"in_ns,omitempty"`
	InLo    time.Duration `json:"in_lo_ns,omitempty"`
	InHi    time.Duration `json:"in_hi_ns,omitempty"`
	Bounded bool          `json:"bounded,omitempty"`
	At      time.Time     `json:"at,omitzero"`
}

// Within reports whether the crossing is forecast within horizon with
// confidence: the central estimate falls inside it and the trend's
// slope is significant (its interval excludes zero).
func (c *Crossing) Within(horizon time.Duration) bool {
	return c != nil && !c.Past && !c.Never && c.Bounded && c.In <= horizon
}

// Days says the crossing for people: "in 12 days (±3)", "in about 9 hours".
func (c *Crossing) Days() string {
	switch {
	case c == nil:
		return ""
	case c.Past:
		return "already past"
	case c.Never:
		return "not heading there"
	}
	d := c.In.Hours() / 24
	if d < 2 {
		return fmt.Sprintf("in about %.0f hours", math.Max(1, math.Round(c.In.Hours())))
	}
	if !c.Bounded {
		return fmt.Sprintf("in about %.0f days (or never: the trend is not significant)", math.Round(d))
	}
	pm := math.Round((c.InHi - c.InLo).Hours() / 48)
	if pm < 1 {
		return fmt.Sprintf("in %.0f days", math.Round(d))
	}
	return fmt.Sprintf("in %.0f days (±%.0f)", math.Round(d), pm)
}

// Cross computes when tr reaches threshold (named name).
func (tr Trend) Cross(name string, threshold float64) Crossing {
	c := Crossing{Name: name, Threshold: threshold}
	// Work upwards: a Below series is mirrored.
	peak, s, lo, hi, th := tr.Peak, tr.PerDay, tr.PerDayLo, tr.PerDayHi, threshold
	if tr.Below {
		peak, s, lo, hi, th = -peak, -s, -hi, -lo, -th
	}
	head := th - peak
	switch {
	case head <= 0:
		c.Past = true
		return c
	case s <= 0 || hi <= 0:
		c.Never = true
		return c
	}
	days := func(rate float64) time.Duration { return time.Duration(head / rate * float64(Day)) }
	const far = 100 * 365 * Day
	c.In = min(days(s), far)
	c.InLo = min(days(hi), far)
	if lo > 0 {
		c.InHi, c.Bounded = min(days(lo), far), true
	}
	c.At = tr.Now.Add(c.In)
	return c
}

// Forecast is a series' trend and its crossings.
type Forecast struct {
	Trend    Trend     `json:"trend"`
	Warning  *Crossing `json:"warning,omitempty"`
	Critical *Crossing `json:"critical,omitempty"`
}

// Predict crosses tr with the limits that are set.
func Predict(tr Trend, l Limits) Forecast {
	f := Forecast{Trend: tr}
	if l.Warning != nil {
		c := tr.Cross("warning", *l.Warning)
		f.Warning = &c
	}
	if l.Critical != nil {
		c := tr.Cross("critical", *l.Critical)
		f.Critical = &c
	}
	return f
}

// Soonest is the first crossing forecast within horizon (critical wins a
// tie), or nil.
func (f Forecast) Soonest(horizon time.Duration) *Crossing {
	var best *Crossing
	for _, c := range []*Crossing{f.Critical, f.Warning} {
		if c.Within(horizon) && (best == nil || c.In < best.In) {
			best = c
		}
	}
	return best
}

// Growth compares a series' last day with its own history.
type Growth struct {
	// Recent is the rise over the last 24 h (same hour yesterday to now,
	// median over the day's hours), in units per day; Baseline the
	// history's seasonal Theil–Sen slope before that.
	Recent   float64 `json:"recent_per_day"`
	Baseline float64 `json:"baseline_per_day"`
	// MinRise is the rise below which nothing alarms: three times the
	// day-over-day noise, and 1 % of the series' magnitude.
	MinRise float64 `json:"min_rise"`
	Alarm   bool    `json:"alarm"`
}

// GrowthOf judges whether the last day of bs grows more than factor
// times faster than the history before it (at least 3 days of it, since
// the last reset). ok is false when there is too little history.
func GrowthOf(bs []Bucket, o Options, factor float64) (g Growth, ok bool) {
	o = o.withDefaults()
	ps := points(bs, o)
	if len(ps) >= 6 {
		if r := findReset(ps); r > 0 {
			ps = ps[r:]
		}
	}
	var hist []point
	byKey := map[int64]float64{}
	for _, p := range ps {
		byKey[p.key] = p.v
		if p.t < -1 {
			hist = append(hist, p)
		}
	}
	if len(hist) < 6 || hist[len(hist)-1].t-hist[0].t < 3 {
		return g, false
	}
	var rises, noise []float64
	for _, p := range ps {
		if prev, ok := byKey[p.key-24]; ok {
			if p.t >= -1 {
				rises = append(rises, p.v-prev)
			} else {
				noise = append(noise, p.v-prev)
			}
		}
	}
	if len(rises) < 6 || len(noise) < 6 {
		return g, false
	}
	base, _, _, _ := senSlope(hist)
	mn := median(noise)
	for i := range noise {
		noise[i] = math.Abs(noise[i] - mn)
	}
	mag := make([]float64, len(ps))
	for i, p := range ps {
		mag[i] = math.Abs(p.v)
	}
	g.Recent, g.Baseline = median(rises), base
	g.MinRise = max(3*1.4826*median(noise), 0.01*median(mag))
	g.Alarm = g.Recent > g.MinRise && g.Recent > factor*max(base, 0)
	if o.Below {
		g.Recent, g.Baseline = -g.Recent, -g.Baseline
	}
	return g, true
}
