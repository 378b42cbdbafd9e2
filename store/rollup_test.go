package store

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"outpost/checks"
)

// TestRollupBlockRoundTrip covers every field shape the encoder treats
// specially: gaps, repeated and changing counts, failures, flat and
// spread values, values only a float64 can hold, no value, flat latency.
func TestRollupBlockRoundTrip(t *testing.T) {
	step := 5 * time.Minute
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * step) }
	in := []Rollup{
		{Start: at(0), Count: 5, HasValue: true, ValueMin: 1.5, ValueMax: 4.25, ValueMean: 2.125, LatencyMin: 300 * time.Microsecond, LatencyMax: 4 * time.Millisecond, LatencyMean: 2 * time.Millisecond},
		{Start: at(1), Count: 5, Failures: 2, HasValue: true, ValueMin: 0.5, ValueMax: 0.5, ValueMean: 0.5, LatencyMin: time.Millisecond, LatencyMax: time.Millisecond, LatencyMean: time.Millisecond},
		{Start: at(7), Count: 3, LatencyMin: 10 * time.Second, LatencyMax: 10 * time.Second, LatencyMean: 10 * time.Second},
		{Start: at(8), Count: 3, HasValue: true, ValueMin: -1e300, ValueMax: 1e300, ValueMean: 0},
		{Start: at(9), Count: 1, HasValue: true, ValueMin: math.Inf(1), ValueMax: math.Inf(1), ValueMean: math.Inf(1)},
		{Start: at(287), Count: 5, HasValue: true, ValueMin: -3, ValueMax: 7, ValueMean: 1.001, LatencyMin: 0, LatencyMax: 2 * time.Microsecond, LatencyMean: time.Microsecond},
	}
	b := encodeRollups(t0, step, in)
	out, err := decodeRollups(t0, step, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d rollups back, want %d", len(out), len(in))
	}
	for i := range in {
		if !reflect.DeepEqual(normal(in[i]), normal(out[i])) {
			t.Fatalf("rollup %d:\n in  %+v\n out %+v", i, in[i], out[i])
		}
	}
	if _, err := decodeRollups(t0, step, b[:len(b)-1]); err == nil {
		t.Fatal("truncated rollup block decoded without error")
	}

	// A steady check's day costs a few bytes a bucket.
	var steady []Rollup
	for i := 0; i < 288; i++ {
		steady = append(steady, Rollup{Start: at(i), Count: 5, HasValue: true, ValueMin: 42, ValueMax: 42, ValueMean: 42, LatencyMin: time.Millisecond, LatencyMax: 2 * time.Millisecond, LatencyMean: 1500 * time.Microsecond})
	}
	if n := len(encodeRollups(t0, step, steady)); n > 288*8 {
		t.Fatalf("steady day: %d bytes, %.1f a rollup", n, float64(n)/288)
	}
}

// normal makes a rollup comparable: time zone aside.
func normal(r Rollup) Rollup { r.Start = r.Start.UTC(); return r }

// TestRollupBlocksFitAPage: a day of noisy rollups is split into blocks
// that each fit one bbolt page, and reading them back gives the day.
func TestRollupBlocksFitAPage(t *testing.T) {
	var rs []checks.Result
	for i := 0; i < 24*60*6; i++ { // every 10 s
		ms := float64((i*7919)%9973) + 0.123
		rs = append(rs, checks.Result{Time: t0.Add(time.Duration(i) * 10 * time.Second), Latency: time.Duration(ms * float64(time.Millisecond)), Status: checks.Status(i % 4)}.WithValue(ms*1e6))
	}
	want := computeRollups(rs, 5*time.Minute)
	blocks := rollupBlocks(5*time.Minute, want)
	if len(blocks) < 2 {
		t.Fatalf("a %d-byte day was not split", len(encodeRollups(t0, 5*time.Minute, want)))
	}
	var got []Rollup
	for _, b := range blocks {
		if len(b.data) > blockMaxBytes {
			t.Fatalf("block of %d bytes", len(b.data))
		}
		part, err := decodeRollups(b.start, 5*time.Minute, b.data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, part...)
	}
	if len(got) != len(want) || got[0].Count != 30 || got[0].Failures != 22 {
		t.Fatalf("%d rollups back, want %d; first %+v", len(got), len(want), got[0])
	}
	for i := range want {
		w, g := want[i], got[i]
		if !w.Start.Equal(g.Start) || w.Count != g.Count || w.Failures != g.Failures || math.Abs(w.ValueMean-g.ValueMean) > 0.0005 || w.LatencyMax.Truncate(time.Microsecond) != g.LatencyMax {
			t.Fatalf("rollup %d: want %+v got %+v", i, w, g)
		}
	}
}

// TestChangeValues: binary change values round-trip, and values written
// as JSON by earlier versions still read.
func TestChangeValues(t *testing.T) {
	c := Change{Time: t0.Add(1500 * time.Millisecond), From: checks.OK, To: checks.Critical, Detail: "connect: connection refused"}
	var got Change
	k := seqKey(c.Time, 7)
	if err := decodeChange(k, encodeChange(c), &got); err != nil || !got.Time.Equal(c.Time) || got.From != c.From || got.To != c.To || got.Detail != c.Detail {
		t.Fatalf("binary change: %+v %v", got, err)
	}
	old, _ := json.Marshal(c)
	got = Change{}
	if err := decodeChange(k, old, &got); err != nil || got.To != checks.Critical || got.Detail != c.Detail {
		t.Fatalf("JSON change: %+v %v", got, err)
	}
	if err := decodeChange(k, []byte{9, 0}, &got); err == nil {
		t.Fatal("garbage change decoded without error")
	}
}
