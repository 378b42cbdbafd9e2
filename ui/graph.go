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
	Labels []Label // y axis min/max and x axis start/end
	Empty  bool
	Unit   string
}

// Mark is a failure marker.
type Mark struct{ X, Y, W, H float64 }

// Label is a text on the graph.
type Label struct {
	X, Y   float64
	Text   string
	Anchor string
}

// maxPoints bounds the path: a year of hourly rollups would otherwise be
// 8,760 segments for a 600-pixel graph.
const maxPoints = 400

// BuildGraph plots points over [from, to]. It plots Value when the points
// have one, else latency in ms.
func BuildGraph(points []Point, from, to time.Time, w, h float64, withLabels bool) Graph {
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
	g.Unit = "ms"
	if useValue {
		g.Unit = ""
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
	for _, p := range points {
		i := int(float64(p.Time.Sub(from)) / float64(span) * maxPoints)
		if i < 0 || i >= maxPoints {
			continue
		}
		if v, ok := y(p); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			buckets[i].sum += v
			buckets[i].n++
		}
		buckets[i].fails += p.Failures
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range buckets {
		if b.n > 0 {
			v := b.sum / float64(b.n)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	pad := 4.0
	top, bottom := pad, h-pad
	if withLabels {
		top, bottom = 14, h-16
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	if lo > 0 && lo < hi/2 {
		lo = 0
	}
	if hi == lo {
		hi = lo + 1
	}
	var sb strings.Builder
	pen := false
	for i, b := range buckets {
		x := w * (float64(i) + 0.5) / maxPoints
		if b.fails > 0 {
			g.Fails = append(g.Fails, Mark{X: x - 1, Y: bottom - 6, W: 2, H: 6})
		}
		if b.n == 0 {
			pen = false // a gap in the data is a gap in the line
			continue
		}
		v := b.sum / float64(b.n)
		py := bottom - (v-lo)/(hi-lo)*(bottom-top)
		if pen {
			fmt.Fprintf(&sb, "L%.1f %.1f", x, py)
		} else {
			fmt.Fprintf(&sb, "M%.1f %.1f", x, py)
			pen = true
		}
	}
	g.Path = sb.String()
	if withLabels {
		g.Labels = []Label{
			{X: 2, Y: 11, Text: fmtNum(hi) + " " + g.Unit, Anchor: "start"},
			{X: 2, Y: bottom - 2, Text: fmtNum(lo) + " " + g.Unit, Anchor: "start"},
			{X: 2, Y: h - 3, Text: from.Format("Jan 2 15:04"), Anchor: "start"},
			{X: w - 2, Y: h - 3, Text: to.Format("Jan 2 15:04"), Anchor: "end"},
		}
	}
	return g
}

func fmtNum(v float64) string {
	switch {
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
