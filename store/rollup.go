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

// A rollup block holds one UTC day of one check's rollups at one
// resolution. Each rollup is a flags byte and only the fields that say
// something, as differences from the rollup before it:
//
//	byte     flags (rf* below)
//	uvarint  bucket index gap - 1            (rfGap: not the next bucket)
//	uvarint  count                           (rfCount: differs from previous)
//	uvarint  failures                        (rfFail: not zero)
//	values   at 0.001: zigzag(min - previous min), then unless rfValueFlat
//	         uvarint(max - min), uvarint(mean - min); with rfValueFloat
//	         the 1 or 3 values as float64 bits instead
//	latency  in µs: zigzag(min - previous min), then unless rfLatFlat
//	         uvarint(max - min), uvarint(mean - min)
//
// A steady check costs 3 to 5 bytes a rollup, a noisy one about 13.
const (
	rfGap        = 1 << 0
	rfCount      = 1 << 1
	rfFail       = 1 << 2
	rfValue      = 1 << 3
	rfValueFlat  = 1 << 4
	rfValueFloat = 1 << 5
	rfLatFlat    = 1 << 6
)

type rollupBlock struct {
	start time.Time
	data  []byte
}

// rollupBlocks packs a day's rollups into blocks keyed by their first
// bucket's start, each small enough for one bbolt page (a value bigger
// than a page takes whole overflow pages, mostly empty).
func rollupBlocks(step time.Duration, rs []Rollup) []rollupBlock {
	var out []rollupBlock
	for len(rs) > 0 {
		n := len(rs)
		data := encodeRollups(rs[0].Start, step, rs)
		for len(data) > blockMaxBytes && n > 1 {
			n = n * blockMaxBytes / len(data) * 9 / 10
			n = max(n, 1)
			data = encodeRollups(rs[0].Start, step, rs[:n])
		}
		out = append(out, rollupBlock{rs[0].Start, data})
		rs = rs[n:]
	}
	return out
}

// encodeRollups packs rollups (in time order, none before base) of one
// check; bucket indexes count steps from base.
func encodeRollups(base time.Time, step time.Duration, rs []Rollup) []byte {
	var b []byte
	prevIdx, prevCount := int64(-1), uint32(0)
	var prevV, prevL int64
	for _, r := range rs {
		idx := int64(r.Start.Sub(base) / step)
		var flags byte
		if idx != prevIdx+1 {
			flags |= rfGap
		}
		if r.Count != prevCount {
			flags |= rfCount
		}
		if r.Failures != 0 {
			flags |= rfFail
		}
		vs := [3]float64{r.ValueMin, r.ValueMax, r.ValueMean}
		var vm [3]int64
		if r.HasValue {
			flags |= rfValue
			exact := true
			for i, v := range vs {
				m, ok := milli(v)
				vm[i], exact = m, exact && ok
			}
			if !exact || vm[1] < vm[0] || vm[2] < vm[0] {
				flags |= rfValueFloat
			}
			if vs[0] == vs[1] && vs[0] == vs[2] {
				flags |= rfValueFlat
			}
		}
		lmin, lmax, lmean := micros(r.LatencyMin), micros(r.LatencyMax), micros(r.LatencyMean)
		if lmax < lmin || lmean < lmin {
			lmax, lmean = max(lmax, lmin), max(lmean, lmin)
		}
		if lmin == lmax && lmin == lmean {
			flags |= rfLatFlat
		}
		b = append(b, flags)
		if flags&rfGap != 0 {
			b = binary.AppendUvarint(b, uint64(idx-prevIdx-1))
		}
		if flags&rfCount != 0 {
			b = binary.AppendUvarint(b, uint64(r.Count))
		}
		if flags&rfFail != 0 {
			b = binary.AppendUvarint(b, uint64(r.Failures))
		}
		switch {
		case flags&rfValue == 0:
		case flags&rfValueFloat != 0:
			n := 3
			if flags&rfValueFlat != 0 {
				n = 1
			}
			for _, v := range vs[:n] {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
			}
		default:
			b = binary.AppendVarint(b, vm[0]-prevV)
			if flags&rfValueFlat == 0 {
				b = binary.AppendUvarint(b, uint64(vm[1]-vm[0]))
				b = binary.AppendUvarint(b, uint64(vm[2]-vm[0]))
			}
			prevV = vm[0]
		}
		b = binary.AppendVarint(b, lmin-prevL)
		if flags&rfLatFlat == 0 {
			b = binary.AppendUvarint(b, uint64(lmax-lmin))
			b = binary.AppendUvarint(b, uint64(lmean-lmin))
		}
		prevIdx, prevCount, prevL = idx, r.Count, lmin
	}
	return b
}

// milli is v at 0.001 resolution, and whether that is close enough to
// be stored that way (no NaN, infinities or values past 2^53/1000).
func milli(v float64) (int64, bool) {
	s := v * 1000
	if math.IsNaN(s) || math.IsInf(s, 0) || math.Abs(s) >= 1<<53 {
		return 0, false
	}
	return int64(math.Round(s)), true
}

func micros(d time.Duration) int64 { return int64(max(d, 0) / time.Microsecond) }

func decodeRollups(day time.Time, step time.Duration, b []byte) ([]Rollup, error) {
	var out []Rollup
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	f64 := func() float64 {
		if len(b) < 8 {
			bad = true
			return 0
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return v
	}
	idx, count := int64(-1), uint32(0)
	var prevV, prevL int64
	for len(b) > 0 && !bad {
		flags := b[0]
		b = b[1:]
		idx++
		if flags&rfGap != 0 {
			idx += int64(uv())
		}
		if flags&rfCount != 0 {
			count = uint32(uv())
		}
		r := Rollup{Start: day.Add(time.Duration(idx) * step), Count: count}
		if flags&rfFail != 0 {
			r.Failures = uint32(uv())
		}
		if flags&rfValue != 0 {
			r.HasValue = true
			flat := flags&rfValueFlat != 0
			if flags&rfValueFloat != 0 {
				r.ValueMin = f64()
				r.ValueMax, r.ValueMean = r.ValueMin, r.ValueMin
				if !flat {
					r.ValueMax, r.ValueMean = f64(), f64()
				}
			} else {
				vmin := prevV + sv()
				vmax, vmean := vmin, vmin
				if !flat {
					vmax, vmean = vmin+int64(uv()), vmin+int64(uv())
				}
				prevV = vmin
				r.ValueMin, r.ValueMax, r.ValueMean = float64(vmin)/1000, float64(vmax)/1000, float64(vmean)/1000
			}
		}
		lmin := prevL + sv()
		lmax, lmean := lmin, lmin
		if flags&rfLatFlat == 0 {
			lmax, lmean = lmin+int64(uv()), lmin+int64(uv())
		}
		prevL = lmin
		r.LatencyMin, r.LatencyMax, r.LatencyMean = time.Duration(lmin)*time.Microsecond, time.Duration(lmax)*time.Microsecond, time.Duration(lmean)*time.Microsecond
		out = append(out, r)
	}
	if bad {
		return out, errCorrupt
	}
	return out, nil
}
