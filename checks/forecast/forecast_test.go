package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// now is far from today on purpose: nothing here may depend on the date.
var now = time.Date(2031, 3, 17, 14, 0, 0, 0, time.UTC)

// series makes hourly buckets for the last days days (the newest one
// starting at now), with value f(hours before now, as a negative number).
func series(days int, f func(h float64) float64) []Bucket {
	var bs []Bucket
	for h := -days * 24; h <= 0; h++ {
		v := f(float64(h))
		bs = append(bs, Bucket{Start: now.Add(time.Duration(h) * time.Hour), Mean: v, Min: v, Max: v, Count: 12})
	}
	return bs
}

func pf(v float64) *float64 { return &v }

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %g, want %g ± %g", what, got, want, tol)
	}
}

func nearDays(t *testing.T, what string, got time.Duration, want, tol float64) {
	t.Helper()
	near(t, what, got.Hours()/24, want, tol)
}

func TestLinearFill(t *testing.T) {
	// 1 % a day, at 60 % now: warning (80) in 20 days, critical (90) in 30.
	bs := series(14, func(h float64) float64 { return 60 + h/24 })
	tr, err := Fit(bs, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "slope", tr.PerDay, 1, 1e-9)
	near(t, "level", tr.Level, 60, 1e-9)
	if tr.Method != MethodSeasonal || tr.Points != 14*24+1 || !tr.Reset.IsZero() {
		t.Errorf("trend = %+v", tr)
	}
	f := Predict(tr, Limits{Warning: pf(80), Critical: pf(90)})
	nearDays(t, "warning in", f.Warning.In, 20, 0.01)
	nearDays(t, "critical in", f.Critical.In, 30, 0.01)
	if !f.Warning.At.Equal(now.Add(f.Warning.In)) {
		t.Errorf("warning at %s", f.Warning.At)
	}
	if got := f.Soonest(21 * Day); got != f.Warning {
		t.Errorf("soonest within 21 days = %+v", got)
	}
	if got := f.Soonest(14 * Day); got != nil {
		t.Errorf("soonest within 14 days = %+v, want none", got)
	}
	if s := f.Warning.Days(); s != "in 20 days" {
		t.Errorf("Days() = %q", s)
	}
}

func TestNoisyFill(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// 0.5 %/day with ±2 % noise (and the odd spike): the estimate and its
	// interval must hold the truth.
	bs := series(21, func(h float64) float64 {
		v := 70 + 0.5*h/24 + rng.NormFloat64()*2
		if rng.IntN(50) == 0 {
			v += 15
		}
		return v
	})
	tr, err := Fit(bs, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "slope", tr.PerDay, 0.5, 0.08)
	if tr.PerDayLo > 0.5 || tr.PerDayHi < 0.5 || tr.PerDayLo <= 0 {
		t.Errorf("interval [%g, %g] should hold 0.5 and exclude 0", tr.PerDayLo, tr.PerDayHi)
	}
	if !tr.Reset.IsZero() {
		t.Errorf("noise taken for a reset at %s", tr.Reset)
	}
	f := Predict(tr, Limits{Critical: pf(95)})
	// The daily peak (trend + 90th percentile of the noise, ~2.6) is
	// judged, so about (95 - 72.6) / 0.5 = 45 days.
	nearDays(t, "critical in", f.Critical.In, 45, 8)
	if !f.Critical.Bounded || f.Critical.InLo > f.Critical.In || f.Critical.InHi < f.Critical.In {
		t.Errorf("crossing %+v", f.Critical)
	}
}

func TestDailyCycle(t *testing.T) {
	// A daily swing of ±5 (log files rotated at night) over a rise of
	// 0.2/day: the slope is the rise, not the swing.
	bs := series(10, func(h float64) float64 { return 50 + 0.2*h/24 + 5*math.Sin(2*math.Pi*h/24) })
	tr, err := Fit(bs, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "slope", tr.PerDay, 0.2, 1e-6)
	if !tr.Reset.IsZero() {
		t.Errorf("daily cycle taken for a reset at %s", tr.Reset)
	}
	// The peak rides about 5 above the line: warning at 80 is
	// (80 - 55) / 0.2 = 125 days away, give or take the envelope.
	f := Predict(tr, Limits{Warning: pf(80)})
	nearDays(t, "warning in", f.Warning.In, 125, 5)
}

func TestResetMidway(t *testing.T) {
	// A toner: 2 %/day down to 8 %, replaced 6 days ago, then 3 %/day.
	resetAt := -6 * 24.0
	bs := series(20, func(h float64) float64 {
		if h < resetAt {
			return 8 + 2*(resetAt-h)/24
		}
		return 100 - 3*(h-resetAt)/24
	})
	tr, err := Fit(bs, Options{Now: now, Below: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(time.Duration(resetAt) * time.Hour); !tr.Reset.Equal(want) {
		t.Errorf("reset at %s, want %s", tr.Reset, want)
	}
	near(t, "slope", tr.PerDay, -3, 1e-9)
	near(t, "level", tr.Level, 82, 1e-9)
	f := Predict(tr, Limits{Warning: pf(10), Critical: pf(3)})
	// 82 → 10 at 3/day: 24 days; → 3: 26.3 days.
	nearDays(t, "warning in", f.Warning.In, 24, 0.01)
	nearDays(t, "critical in", f.Critical.In, 79.0/3, 0.01)

	// A disk cleaned 2 days ago: too little history since, says so.
	bs = series(20, func(h float64) float64 {
		if h < -48 {
			return 90 + h/24
		}
		return 40 + (h+48)/24
	})
	if _, err := Fit(bs, Options{Now: now, MinSpan: 3 * Day}); err == nil {
		t.Fatal("fitted with 2 days since the reset and MinSpan 3 days")
	} else if e, ok := err.(*ErrTooShort); !ok || !e.Reset.Equal(now.Add(-48*time.Hour)) {
		t.Errorf("err = %v", err)
	}
}

func TestFlat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	bs := series(14, func(h float64) float64 { return 42 + rng.NormFloat64()*0.5 })
	tr, err := Fit(bs, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if tr.PerDayLo > 0 || tr.PerDayHi < 0 {
		t.Errorf("flat series: interval [%g, %g] excludes 0", tr.PerDayLo, tr.PerDayHi)
	}
	f := Predict(tr, Limits{Warning: pf(80), Critical: pf(90)})
	if f.Soonest(365*Day) != nil {
		t.Errorf("flat series forecast to cross: %+v %+v", f.Warning, f.Critical)
	}
	// Exactly flat: never.
	tr, _ = Fit(series(14, func(float64) float64 { return 42 }), Options{Now: now})
	if c := tr.Cross("warning", 80); !c.Never {
		t.Errorf("constant series: %+v", c)
	}
	// Already over the threshold.
	if c := tr.Cross("warning", 40); !c.Past {
		t.Errorf("past threshold: %+v", c)
	}
}

func TestShortHistoryUsesPlainTheilSen(t *testing.T) {
	bs := series(1, func(h float64) float64 { return 10 + 4*h/24 })
	tr, err := Fit(bs, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Method != MethodPlain {
		t.Errorf("method %s", tr.Method)
	}
	near(t, "slope", tr.PerDay, 4, 1e-9)
	if _, err := Fit(series(0, func(float64) float64 { return 1 }), Options{Now: now}); err == nil {
		t.Error("one bucket fitted")
	}
}

func TestGrowthAlarm(t *testing.T) {
	// 0.3/day for two weeks with a daily cycle, then 6 in the last day.
	f := func(h float64) float64 {
		v := 40 + 0.3*h/24 + 2*math.Sin(2*math.Pi*h/24)
		if h > -24 {
			v += 6 * (h + 24) / 24
		}
		return v
	}
	g, ok := GrowthOf(series(14, f), Options{Now: now}, 3)
	if !ok || !g.Alarm {
		t.Fatalf("growth = %+v, %v; want an alarm", g, ok)
	}
	near(t, "baseline", g.Baseline, 0.3, 0.01)
	if g.Recent < 3 { // the median hour of a burst that ramps over the day
		t.Errorf("recent = %g", g.Recent)
	}
	// The same history without the burst: no alarm.
	g, ok = GrowthOf(series(14, func(h float64) float64 { return 40 + 0.3*h/24 + 2*math.Sin(2*math.Pi*h/24) }), Options{Now: now}, 3)
	if !ok || g.Alarm {
		t.Errorf("steady growth = %+v, %v; want no alarm", g, ok)
	}
	// Too little history: not judged.
	if _, ok := GrowthOf(series(2, f), Options{Now: now}, 3); ok {
		t.Error("judged growth on 2 days")
	}
}

func BenchmarkFit30Days(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	bs := series(30, func(h float64) float64 { return 60 + 0.3*h/24 + 3*math.Sin(2*math.Pi*h/24) + rng.NormFloat64() })
	b.ReportAllocs()
	for b.Loop() {
		tr, err := Fit(bs, Options{Now: now})
		if err != nil {
			b.Fatal(err)
		}
		Predict(tr, Limits{Warning: pf(80), Critical: pf(90)})
		GrowthOf(bs, Options{Now: now}, 3)
	}
}
