package checks

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"outpost/checks/forecast"
)

func init() {
	Register(Kind{Name: "forecast", Severity: SeverityWarning, Summary: "capacity forecast: warns when a series with thresholds (disk, storage, toner, UPS runtime, ...) is forecast to cross one within the horizon, or grows much faster than its history", New: newForecast})
}

// SeriesReader reads a check's stored values as rollup buckets of step
// (time.Hour or 5*time.Minute), in time order, buckets without a value
// left out (the store, adapted by the wiring). Errors are the store's.
type SeriesReader interface {
	ValueBuckets(check string, step time.Duration, from, to time.Time) ([]forecast.Bucket, error)
}

// SpecLister is a site config that lists its checks (appliance/config's
// Config is one): a forecast check finds the series it watches there.
type SpecLister interface {
	Specs() []Spec
}

// seriesKind is what a kind's main value means for forecasts, and the
// thresholds it applies when its options set none.
type seriesKind struct {
	what       string // "used %", "supply left %"
	key        string // the options key holding the thresholds ("" = top level)
	warn, crit float64
	below      bool
	defaults   bool // warn and crit apply when the options say nothing
	// sizes: the options give warning and critical as sizes ("20GB")
	// and the value is MiB.
	sizes bool
}

// seriesKinds are the kinds whose Result.Value is compared with warning
// and critical thresholds (their constructors' defaults, repeated here;
// TestSeriesKindsDefaults holds them together).
var seriesKinds = map[string]seriesKind{
	"disk":         {what: "used %", warn: 80, crit: 90, defaults: true},
	"cpu":          {what: "CPU busy %", warn: 85, crit: 95, defaults: true},
	"memory":       {what: "memory used %", warn: 85, crit: 95, defaults: true},
	"agent_disk":   {what: "used %", warn: 85, crit: 95, defaults: true},
	"agent_cpu":    {what: "CPU busy %", warn: 85, crit: 95, defaults: true},
	"agent_memory": {what: "memory used %", warn: 90, crit: 97, defaults: true},
	"snmp_storage": {what: "used %", warn: 85, crit: 95, defaults: true},
	"snmp_cpu":     {what: "CPU busy %", warn: 85, crit: 95, defaults: true},
	"snmp_printer": {what: "supply left %", warn: 10, crit: 3, below: true, defaults: true},
	"snmp_ups":     {what: "minutes of runtime", key: "minutes", warn: 15, crit: 5, below: true, defaults: true},
	"snmp_get":     {what: "value"},
	"agent_perf":   {what: "value"},
	"agent_folder": {what: "size (MiB)", sizes: true},
}

// Series is one numeric series with thresholds: a check and what its
// value means.
type Series struct {
	Check  string          `json:"check"`
	Kind   string          `json:"kind"`
	Target string          `json:"target,omitempty"`
	Device string          `json:"device,omitempty"`
	Group  string          `json:"group,omitempty"`
	What   string          `json:"what"`
	Limits forecast.Limits `json:"limits"`
}

// Name is the series for people: "disk-root (/) on outpost", "exch-logs
// on exch01" (an agent's check: its target is its device).
func (s Series) Name() string {
	n := s.Check
	if s.Target != "" && s.Target != s.Device {
		n = fmt.Sprintf("%s (%s)", s.Check, s.Target)
	}
	if s.Device != "" && s.Device != s.Check {
		n += " on " + s.Device
	}
	return n
}

// SeriesOf returns the thresholded series of a check: its kind's value
// compared with warning and critical (its options', else the kind's
// defaults). ok is false for a kind without such a value, or one whose
// options set no threshold.
func SeriesOf(sp Spec) (Series, bool) {
	k, ok := seriesKinds[sp.Kind]
	if !ok {
		return Series{}, false
	}
	s := Series{Check: sp.ID, Kind: sp.Kind, Target: sp.Target, Device: sp.Labels.Device, Group: sp.Labels.Group, What: k.what}
	l := forecast.Limits{Below: k.below}
	if k.defaults {
		w, c := k.warn, k.crit
		l.Warning, l.Critical = &w, &c
	}
	var o struct {
		Warning  *float64 `yaml:"warning"`
		Critical *float64 `yaml:"critical"`
		Below    *bool    `yaml:"below"`
	}
	if k.sizes && sp.Options != nil {
		var m map[string]Options
		if sp.Options.Decode(&m) == nil {
			for key, to := range map[string]**float64{"warning": &l.Warning, "critical": &l.Critical} {
				var v string
				if opt, ok := m[key]; ok && opt.Decode(&v) == nil {
					if n, err := ParseBytes(v); err == nil {
						mib := float64(n) / (1 << 20)
						*to = &mib
					}
				}
			}
		}
		if l.Warning == nil && l.Critical == nil {
			return Series{}, false
		}
		s.Limits = l
		return s, true
	}
	if sp.Options != nil {
		var m map[string]Options
		if sp.Options.Decode(&m) == nil {
			if k.key == "" {
				for _, f := range []struct {
					key string
					v   any
				}{{"warning", &o.Warning}, {"critical", &o.Critical}, {"below", &o.Below}} {
					if opt, ok := m[f.key]; ok {
						opt.Decode(f.v)
					}
				}
			} else if opt, ok := m[k.key]; ok {
				var t Thresholds
				if opt.Decode(&t) == nil {
					o.Warning, o.Critical, o.Below = t.Warning, t.Critical, &t.Below
				}
			}
		}
	}
	// Set thresholds replace the defaults as a pair, as the kinds do.
	if o.Warning != nil || o.Critical != nil {
		l.Warning, l.Critical = o.Warning, o.Critical
		if k.defaults && k.key == "" && !strings.HasPrefix(sp.Kind, "snmp_") {
			// cpu, memory, disk: a lone warning keeps the default critical.
			if l.Warning == nil {
				w := k.warn
				l.Warning = &w
			}
			if l.Critical == nil {
				c := k.crit
				l.Critical = &c
			}
		}
	}
	if o.Below != nil {
		l.Below = *o.Below
	} else if (o.Warning != nil || o.Critical != nil) && strings.HasPrefix(sp.Kind, "snmp_") {
		l.Below = false // the SNMP kinds take set thresholds as written
	}
	if l.Warning == nil && l.Critical == nil {
		return Series{}, false
	}
	s.Limits = l
	return s, true
}

// ForecastCheck warns when a series is forecast to cross its warning or
// critical threshold within the horizon, or grows much faster than its
// own history (docs/reports.md).
type ForecastCheck struct {
	series  []Series
	horizon time.Duration
	window  time.Duration
	growth  float64
	src     SeriesReader
	clock   interface{ Now() time.Time }
}

var _ Checker = (*ForecastCheck)(nil)

// DefaultForecastHorizon is how far ahead a forecast check looks.
const DefaultForecastHorizon = 14 * 24 * time.Hour

func newForecast(s Spec, d Deps) (Checker, error) {
	var o struct {
		Check    string        `yaml:"check"`
		Horizon  time.Duration `yaml:"horizon"`
		Window   time.Duration `yaml:"window"`
		Growth   *float64      `yaml:"growth"`
		Warning  *float64      `yaml:"warning"`
		Critical *float64      `yaml:"critical"`
		Below    bool          `yaml:"below"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	c := &ForecastCheck{horizon: o.Horizon, window: o.Window, growth: 3, src: d.Series, clock: d.Clock}
	if c.horizon == 0 {
		c.horizon = DefaultForecastHorizon
	}
	if c.window == 0 {
		c.window = 30 * forecast.Day
	}
	if c.window < 2*forecast.Day {
		return nil, &FieldError{Field: "options.window", Msg: fmt.Sprintf("%s is too short: a trend needs at least 2d of history to see past a daily cycle", o.Window)}
	}
	if o.Growth != nil {
		if *o.Growth != 0 && *o.Growth < 1 {
			return nil, &FieldError{Field: "options.growth", Msg: fmt.Sprintf("%g is not a factor of at least 1 (0 turns the growth alarm off)", *o.Growth)}
		}
		c.growth = *o.Growth
	}
	if o.Check == "" && (o.Warning != nil || o.Critical != nil) {
		return nil, &FieldError{Field: "options.warning", Msg: "thresholds need options.check: without it the forecast watches every series with its own thresholds"}
	}
	var specs []Spec
	if l, ok := s.Env.(SpecLister); ok {
		specs = l.Specs()
	}
	for _, sp := range specs {
		if sp.ID == s.ID || (o.Check != "" && sp.ID != o.Check) {
			continue
		}
		ser, ok := SeriesOf(sp)
		if o.Check != "" {
			if o.Warning != nil || o.Critical != nil {
				ser = Series{Check: sp.ID, Kind: sp.Kind, Target: sp.Target, Device: sp.Labels.Device, Group: sp.Labels.Group, What: "value",
					Limits: forecast.Limits{Warning: o.Warning, Critical: o.Critical, Below: o.Below}}
				ok = true
			}
			if !ok {
				return nil, &FieldError{Field: "options.check", Msg: fmt.Sprintf("check %q (kind %s) has no value with thresholds to forecast; give options.warning and options.critical", o.Check, sp.Kind)}
			}
		}
		if ok {
			c.series = append(c.series, ser)
		}
	}
	if o.Check != "" && len(c.series) == 0 && specs != nil {
		return nil, &FieldError{Field: "options.check", Msg: fmt.Sprintf("%q is not a configured check", o.Check)}
	}
	return c, nil
}

// SeriesForecast is one series' forecast as a forecast check, the report
// and the UI show it.
type SeriesForecast struct {
	Series   Series             `json:"series"`
	Forecast *forecast.Forecast `json:"forecast,omitempty"`
	Growth   *forecast.Growth   `json:"growth,omitempty"`
	// Learning says why there is no forecast yet (too little history).
	Learning string `json:"learning,omitempty"`
}

// Sentence says the forecast for people: "disk-root (/): used % reaches
// critical 90 in 12 days (±3)".
func (f SeriesForecast) Sentence(horizon time.Duration) string {
	switch {
	case f.Learning != "":
		return fmt.Sprintf("%s: %s", f.Series.Name(), f.Learning)
	case f.Forecast == nil:
		return fmt.Sprintf("%s: no data", f.Series.Name())
	}
	fc := f.Forecast
	var parts []string
	if g := f.Growth; g != nil && g.Alarm {
		parts = append(parts, fmt.Sprintf("%s growing %s/day over the last day, against %s/day before", f.Series.What, fmtRate(g.Recent), fmtRate(g.Baseline)))
	}
	c := fc.Soonest(horizon)
	if c == nil {
		// The nearest crossing, even beyond the horizon.
		for _, x := range []*forecast.Crossing{fc.Warning, fc.Critical} {
			if x != nil && !x.Past && !x.Never && (c == nil || x.In < c.In) {
				c = x
			}
		}
	}
	verb := "reaches"
	if f.Series.Limits.Below {
		verb = "falls to"
	}
	switch {
	case c != nil:
		parts = append(parts, fmt.Sprintf("%s %s %s %s %s", f.Series.What, verb, c.Name, fmtRate(c.Threshold), c.Days()))
	case fc.Critical != nil && fc.Critical.Past:
		parts = append(parts, fmt.Sprintf("%s already past critical %s", f.Series.What, fmtRate(fc.Critical.Threshold)))
	case fc.Warning != nil && fc.Warning.Past:
		parts = append(parts, fmt.Sprintf("%s already past warning %s, not heading for critical", f.Series.What, fmtRate(fc.Warning.Threshold)))
	default:
		parts = append(parts, fmt.Sprintf("%s steady (%+.2g/day)", f.Series.What, fc.Trend.PerDay))
	}
	return fmt.Sprintf("%s: %s", f.Series.Name(), strings.Join(parts, "; "))
}

// Next is the series' nearest crossing still ahead (warning or
// critical, significant or not; nil: none, or no forecast yet).
func (f SeriesForecast) Next() *forecast.Crossing {
	if f.Forecast == nil {
		return nil
	}
	var c *forecast.Crossing
	for _, x := range []*forecast.Crossing{f.Forecast.Critical, f.Forecast.Warning} {
		if x != nil && !x.Past && !x.Never && (c == nil || x.In < c.In) {
			c = x
		}
	}
	return c
}

// Past is the worst threshold the series' daily peak is beyond already
// (nil: none).
func (f SeriesForecast) Past() *forecast.Crossing {
	if f.Forecast == nil {
		return nil
	}
	for _, x := range []*forecast.Crossing{f.Forecast.Critical, f.Forecast.Warning} {
		if x != nil && x.Past {
			return x
		}
	}
	return nil
}

// Alarming reports whether the forecast is one a technician must see
// within horizon: a threshold crossed already, a crossing forecast
// within horizon with confidence, or a growth alarm.
func (f SeriesForecast) Alarming(horizon time.Duration) bool {
	return f.Past() != nil || (f.Forecast != nil && f.Forecast.Soonest(horizon) != nil) || (f.Growth != nil && f.Growth.Alarm)
}

// SortForecasts orders forecasts as the dashboard lists them, the next
// to fill first: thresholds crossed already, then by the nearest
// crossing ahead, then the steady ones, then those still learning; by
// name among equals.
func SortForecasts(fs []SeriesForecast) {
	rank := func(f SeriesForecast) (int, time.Duration) {
		switch {
		case f.Past() != nil:
			return 0, 0
		case f.Next() != nil:
			return 1, f.Next().In
		case f.Growth != nil && f.Growth.Alarm:
			return 2, 0
		case f.Forecast != nil:
			return 3, 0
		}
		return 4, 0
	}
	sort.SliceStable(fs, func(i, j int) bool {
		ri, di := rank(fs[i])
		rj, dj := rank(fs[j])
		if ri != rj {
			return ri < rj
		}
		if di != dj {
			return di < dj
		}
		return fs[i].Series.Name() < fs[j].Series.Name()
	})
}

// ForecastSeries forecasts one series from src at now: window of hourly
// buckets, growth judged with factor (0: not judged).
func ForecastSeries(src SeriesReader, s Series, now time.Time, window time.Duration, growth float64) (SeriesForecast, error) {
	out := SeriesForecast{Series: s}
	bs, err := src.ValueBuckets(s.Check, time.Hour, now.Add(-window), now)
	if err != nil {
		return out, fmt.Errorf("reading %s: %w", s.Check, err)
	}
	o := forecast.Options{Now: now, MaxWindow: window, Below: s.Limits.Below}
	tr, err := forecast.Fit(bs, o)
	if err != nil {
		out.Learning = err.Error()
		return out, nil
	}
	fc := forecast.Predict(tr, s.Limits)
	out.Forecast = &fc
	if growth > 0 {
		if g, ok := forecast.GrowthOf(bs, o, growth); ok {
			out.Growth = &g
		}
	}
	return out, nil
}

// Check forecasts every watched series.
func (c *ForecastCheck) Check(ctx context.Context) Result {
	start := time.Now()
	now := c.clock.Now()
	r := Result{Time: now, Status: OK}
	if c.src == nil {
		r.Detail = "no stored history in this process: only the daemon (outpost run) forecasts"
		return r
	}
	if len(c.series) == 0 {
		r.Detail = "no series with thresholds to forecast"
		return r
	}
	var alarms, errs []string
	soonest := -1.0
	learning := 0
	for _, s := range c.series {
		if ctx.Err() != nil {
			r.Status, r.Detail = Unknown, "forecast interrupted: "+context.Cause(ctx).Error()
			return r
		}
		f, err := ForecastSeries(c.src, s, now, c.window, c.growth)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if f.Forecast == nil {
			learning++
			continue
		}
		x := f.Forecast.Soonest(c.horizon)
		grow := f.Growth != nil && f.Growth.Alarm
		if x != nil && (soonest < 0 || x.In.Hours()/24 < soonest) {
			soonest = x.In.Hours() / 24
		}
		if x != nil || grow {
			alarms = append(alarms, f.Sentence(c.horizon))
		}
	}
	r.Latency = Since(start)
	sort.Strings(alarms)
	if soonest >= 0 {
		r = r.WithValue(float64(int(soonest*10+0.5)) / 10)
	}
	switch {
	case len(alarms) > 0:
		r.Status = Warning
		r.Detail = fmt.Sprintf("%d of %d series forecast to cross a threshold within %s or growing fast: %s", len(alarms), len(c.series), fmtDays(c.horizon), strings.Join(alarms, "; "))
	case len(errs) > 0 && len(errs) == len(c.series):
		r.Status, r.Detail = Unknown, "cannot read the history: "+errs[0]
	default:
		r.Detail = fmt.Sprintf("no series forecast to cross a threshold within %s (%d series", fmtDays(c.horizon), len(c.series))
		if learning > 0 {
			r.Detail += fmt.Sprintf(", %d still learning", learning)
		}
		r.Detail += ")"
	}
	if len(errs) > 0 && r.Status != Unknown {
		r.Detail += "; unreadable: " + strings.Join(slices.Compact(errs), "; ")
	}
	return r
}

// Series lists what the check watches.
func (c *ForecastCheck) Series() []Series { return slices.Clone(c.series) }

func fmtDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// fmtRate prints a rate or a threshold with about three significant
// digits (whole numbers as they are) and no exponent: 525, 80, 52.5,
// 0.525, 95367.
func fmtRate(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || a == 0 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
