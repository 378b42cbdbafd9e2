package store

import (
	"encoding/binary"
	"math"
	"time"

	"outpost/checks"
)

// Resolution is a rollup bucket size.
type Resolution int

// The rollup resolutions.
const (
	Res5m Resolution = iota
	Res1h
)

// Step is the bucket length of the resolution.
func (r Resolution) Step() time.Duration {
	if r == Res1h {
		return time.Hour
	}
	return 5 * time.Minute
}

func (r Resolution) bucket() []byte {
	if r == Res1h {
		return bucketR1h
	}
	return bucketR5m
}

// Rollup aggregates the results of one check over one bucket.
type Rollup struct {
	Start                               time.Time
	Count, Failures                     uint32
	ValueMin, ValueMax, ValueMean       float64
	HasValue                            bool
	LatencyMin, LatencyMax, LatencyMean time.Duration
}

// computeRollups aggregates time-ordered results into buckets of step.
func computeRollups(rs []checks.Result, step time.Duration) []Rollup {
	var out []Rollup
	var cur *Rollup
	var vsum float64
	var vn int
	var lsum time.Duration
	finish := func() {
		if cur == nil {
			return
		}
		if vn > 0 {
			cur.ValueMean = vsum / float64(vn)
		}
		cur.LatencyMean = lsum / time.Duration(cur.Count)
		out = append(out, *cur)
	}
	for _, r := range rs {
		start := r.Time.Truncate(step)
		if cur == nil || !start.Equal(cur.Start) {
			finish()
			cur = &Rollup{Start: start, LatencyMin: r.Latency, LatencyMax: r.Latency}
			vsum, vn, lsum = 0, 0, 0
		}
		cur.Count++
		if r.Status != checks.OK {
			cur.Failures++
		}
		lsum += r.Latency
		cur.LatencyMin = min(cur.LatencyMin, r.Latency)
		cur.LatencyMax = max(cur.LatencyMax, r.Latency)
		if r.HasValue {
			if !cur.HasValue {
				cur.ValueMin, cur.ValueMax = r.Value, r.Value
				cur.HasValue = true
			}
			cur.ValueMin = math.Min(cur.ValueMin, r.Value)
			cur.ValueMax = math.Max(cur.ValueMax, r.Value)
			vsum += r.Value
			vn++
		}
	}
	finish()
	return out
}

// encodeRollups packs one day's rollups of one check into a block:
// per bucket its index in the day and varint fields (values at 0.001
// resolution, latencies in microseconds): about 15 bytes a bucket.
func encodeRollups(day time.Time, step time.Duration, rs []Rollup) []byte {
	var b []byte
	for _, r := range rs {
		b = binary.AppendUvarint(b, uint64(r.Start.Sub(day)/step))
		b = binary.AppendUvarint(b, uint64(r.Count))
		b = binary.AppendUvarint(b, uint64(r.Failures))
		if r.HasValue {
			b = append(b, 1)
			for _, v := range []float64{r.ValueMin, r.ValueMax, r.ValueMean} {
				b = binary.AppendVarint(b, milli(v))
			}
		} else {
			b = append(b, 0)
		}
		for _, l := range []time.Duration{r.LatencyMin, r.LatencyMax, r.LatencyMean} {
			b = binary.AppendUvarint(b, uint64(max(l, 0)/time.Microsecond))
		}
	}
	return b
}

func milli(v float64) int64 {
	s := v * 1000
	if math.IsNaN(s) || math.IsInf(s, 0) || math.Abs(s) >= 1<<62 {
		return 0
	}
	return int64(math.Round(s))
}

func decodeRollups(day time.Time, step time.Duration, b []byte) ([]Rollup, error) {
	var out []Rollup
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	for len(b) > 0 {
		var r Rollup
		idx, ok1 := next()
		cnt, ok2 := next()
		fails, ok3 := next()
		if !ok1 || !ok2 || !ok3 || len(b) < 1 {
			return out, errCorrupt
		}
		r.Start = day.Add(time.Duration(idx) * step)
		r.Count, r.Failures = uint32(cnt), uint32(fails)
		r.HasValue = b[0] == 1
		b = b[1:]
		if r.HasValue {
			var vs [3]float64
			for i := range vs {
				v, n := binary.Varint(b)
				if n <= 0 {
					return out, errCorrupt
				}
				vs[i] = float64(v) / 1000
				b = b[n:]
			}
			r.ValueMin, r.ValueMax, r.ValueMean = vs[0], vs[1], vs[2]
		}
		var ls [3]time.Duration
		for i := range ls {
			v, ok := next()
			if !ok {
				return out, errCorrupt
			}
			ls[i] = time.Duration(v) * time.Microsecond
		}
		r.LatencyMin, r.LatencyMax, r.LatencyMean = ls[0], ls[1], ls[2]
		out = append(out, r)
	}
	return out, nil
}
