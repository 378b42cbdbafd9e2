package ui

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Graph is a server-rendered SVG line: no charting library, a few hundred
// bytes per graph, readable without JavaScript.
type Graph struct {
	W, H   float64
	Path   string  // the value line, as SVG path data
	Fails  []Mark  // failed runs or buckets with failures
	Labels []Label // y axis ticks with their unit, x axis times
	Grid   []Rule  // horizontal rules at the y ticks
	Empty  bool
	// Unit is what the line plots (the kind's Value, else the response
	// time); Axis names it for the graph's caption ("ms: response time").
	Unit Unit
	// Last is the newest point's value with its unit ("" when empty): a
	// sparkline is read by it.
	Last string
	// Trend is the forecast's line (SVG path data, "" for none), drawn
	// on to the threshold it heads for (Threshold, a rule with its
	// ThresholdLabel) and the crossing (Cross, a dot; nil when it falls
	// beyond the graph); Now is a vertical rule at the present when the
	// graph reaches into the future.
	Trend          string
	Threshold      *Rule
	ThresholdLabel Label
	Cross          *Mark
	Now            *Rule
}

// TrendLine is a forecast as a graph draws it: the line Level + PerDay
// per day from Now, fitted since From, heading for Threshold (named
// Name), which it reaches at At (zero: not ahead).
type TrendLine struct {
	From, Now     time.Time
	Level, PerDay float64
	Name          string
	Threshold     float64
	At            time.Time
}

func (tl TrendLine) at(t time.Time) float64 {
	return tl.Level + tl.PerDay*t.Sub(tl.Now).Hours()/24
}

// BuildTrendGraph is BuildGraph with a forecast drawn on: the x axis
// runs on past to to the crossing when it is within three spans of the
// history (else one more span), the y axis holds the threshold.
func BuildTrendGraph(points []Point, from, to time.Time, w, h float64, unit Unit, tl TrendLine) Graph {
	span := to.Sub(from)
	end := to.Add(span)
	if !tl.At.IsZero() && tl.At.After(to) && tl.At.Sub(to) <= 3*span {
		end = tl.At.Add(span / 20) // a margin after the dot
	}
	return buildGraph(points, from, end, w, h, true, unit, &tl, to)
}

// Mark is a failure marker.
type Mark struct{ X, Y, W, H float64 }

// Rule is a grid line.
type Rule struct{ X1, Y1, X2, Y2 float64 }

// Label is a text on the graph.
type Label struct {
	X, Y   float64
	Text   string
	Anchor string
}

// maxPoints bounds the path: a year of hourly rollups would otherwise be
// 8,760 segments for a 600-pixel graph.
const maxPoints = 400

// BuildGraph plots points over [from, to]: the kind's Value in unit when
// the points have one, else the response time in ms. With labels it has
// a y axis (three or so round ticks, each with the unit) and times under
// the x axis; without, it is a sparkline.
func BuildGraph(points []Point, from, to time.Time, w, h float64, withLabels bool, unit Unit) Graph {
	return buildGraph(points, from, to, w, h, withLabels, unit, nil, to)
}

// buildGraph plots points over [from, to]; with tl, its trend line too,
// and a rule at now when to is later.
func buildGraph(points []Point, from, to time.Time, w, h float64, withLabels bool, unit Unit, tl *TrendLine, now time.Time) Graph {
	g := Graph{W: w, H: h}
	if len(points) == 0 || !to.After(from) {
		g.Empty = true
		return g
	}
	useValue := false
	for _, p := range points {
		if p.HasValue {
			useValue = true
			break
		}
	}
	g.Unit = responseUnit
	if useValue {
		g.Unit = unit
	}
	y := func(p Point) (float64, bool) {
		if useValue {
			return p.Value, p.HasValue
		}
		return float64(p.Latency) / float64(time.Millisecond), true
	}
	// Downsample by averaging into at most maxPoints buckets over time.
	span := to.Sub(from)
	type acc struct {
		sum   float64
		n     int
		fails int
	}
	buckets := make([]acc, maxPoints)
	newest, haveNewest := 0.0, false
	var newestAt time.Time
	for _, p := range points {
		i := int(float64(p.Time.Sub(from)) / float64(span) * maxPoints)
		if i == maxPoints && !p.Time.After(to) {
			i-- // the newest result, at the right edge
		}
		if i < 0 || i >= maxPoints {
			continue
		}
		if v, ok := y(p); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			buckets[i].sum += v
			buckets[i].n++
			if !haveNewest || !p.Time.Before(newestAt) {
				newest, newestAt, haveNewest = v, p.Time, true
			}
		}
		buckets[i].fails += p.Failures
	}
	if haveNewest {
		g.Last = withUnit(newest, g.Unit)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range buckets {
		if b.n > 0 {
			v := b.sum / float64(b.n)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	var trendFrom time.Time
	if tl != nil && useValue {
		trendFrom = tl.From
		if trendFrom.Before(from) {
			trendFrom = from
		}
		for _, v := range []float64{tl.at(trendFrom), tl.at(to), tl.Threshold} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	} else {
		tl = nil
	}
	if lo > 0 && lo < hi/2 {
		lo = 0
	}
	var ticks []float64
	if withLabels {
		lo, hi, ticks = niceTicks(lo, hi)
	} else if hi == lo {
		lo, hi = lo-1, hi+1 // a flat line sits in the middle
	}
	left, right, top, bottom := 1.0, w-1, 4.0, h-4
	if withLabels {
		widest := 0
		for _, t := range ticks {
			widest = max(widest, len(withUnit(t, g.Unit)))
		}
		left, right, top, bottom = float64(widest)*6.2+10, w-4, 8, h-20
	}
	px := func(i int) float64 { return left + (right-left)*(float64(i)+0.5)/maxPoints }
	py := func(v float64) float64 { return bottom - (v-lo)/(hi-lo)*(bottom-top) }
	var sb strings.Builder
	pen := false
	for i, b := range buckets {
		x := px(i)
		if b.fails > 0 {
			g.Fails = append(g.Fails, Mark{X: x - 1, Y: bottom - 6, W: 2, H: 6})
		}
		if b.n == 0 {
			pen = false // a gap in the data is a gap in the line
			continue
		}
		yy := py(b.sum / float64(b.n))
		if pen {
			fmt.Fprintf(&sb, "L%.1f %.1f", x, yy)
		} else {
			// A lone point still shows: a dot-long segment.
			fmt.Fprintf(&sb, "M%.1f %.1fh0.1", x, yy)
			pen = true
		}
	}
	g.Path = sb.String()
	if tl != nil {
		tx := func(t time.Time) float64 { return left + (right-left)*float64(t.Sub(from))/float64(span) }
		clampY := func(v float64) float64 { return math.Max(top, math.Min(bottom, py(v))) }
		g.Trend = fmt.Sprintf("M%.1f %.1fL%.1f %.1f", tx(trendFrom), clampY(tl.at(trendFrom)), tx(to), clampY(tl.at(to)))
		ty := py(tl.Threshold)
		g.Threshold = &Rule{X1: left, Y1: ty, X2: right, Y2: ty}
		g.ThresholdLabel = Label{X: right - 4, Y: ty - 4, Text: tl.Name + " " + withUnit(tl.Threshold, g.Unit), Anchor: "end"}
		if !tl.At.IsZero() && !tl.At.After(to) && !tl.At.Before(from) {
			g.Cross = &Mark{X: tx(tl.At), Y: ty, W: 4, H: 4}
		}
		if now.Before(to) {
			nx := tx(now)
			g.Now = &Rule{X1: nx, Y1: top, X2: nx, Y2: bottom}
		}
	}
	if withLabels {
		for _, t := range ticks {
			yy := py(t)
			g.Grid = append(g.Grid, Rule{X1: left, Y1: yy, X2: right, Y2: yy})
			g.Labels = append(g.Labels, Label{X: left - 6, Y: yy + 4, Text: withUnit(t, g.Unit), Anchor: "end"})
		}
		layout := timeLayout(span)
		mid := from.Add(span / 2)
		g.Labels = append(g.Labels,
			Label{X: left, Y: h - 4, Text: from.Format(layout), Anchor: "start"},
			Label{X: (left + right) / 2, Y: h - 4, Text: mid.Format(layout), Anchor: "middle"},
			Label{X: right, Y: h - 4, Text: to.Format(layout), Anchor: "end"},
		)
	}
	return g
}

// timeLayout prints axis times as precisely as the span needs.
func timeLayout(span time.Duration) string {
	switch {
	case span <= 24*time.Hour:
		return "15:04"
	case span <= 31*24*time.Hour:
		return "Jan 2 15:04"
	}
	return "Jan 2 2006"
}

// niceTicks widens [lo, hi] to round numbers and returns the ticks in it:
// 1, 2 or 5 times a power of ten apart, two to five of them.
func niceTicks(lo, hi float64) (float64, float64, []float64) {
	if hi <= lo {
		if lo == 0 {
			hi = 1
		} else {
			lo, hi = lo-math.Abs(lo)*0.1, hi+math.Abs(hi)*0.1
		}
	}
	raw := (hi - lo) / 3
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	var ticks []float64
	for v := lo; v <= hi+step/2; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return lo, hi, ticks
}

func fmtNum(v float64) string {
	switch {
	case math.Abs(v) >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
