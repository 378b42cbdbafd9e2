package scheduler

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Histogram counts durations in fixed exponential buckets (10 µs to about
// 2 min, 25 % apart), cheap enough to observe on every check run and exported as a
// Prometheus histogram.
type Histogram struct {
	mu     sync.Mutex
	counts []uint64
	sum    time.Duration
	n      uint64
	max    time.Duration
}

// Bounds are the bucket upper bounds.
var Bounds = func() []time.Duration {
	var b []time.Duration
	for d := 10 * time.Microsecond; d < 3*time.Minute; d = time.Duration(float64(d) * 1.25) {
		b = append(b, d)
	}
	return b
}()

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{counts: make([]uint64, len(Bounds)+1)} }

// Observe adds one duration; negative ones count as zero.
func (h *Histogram) Observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := sort.Search(len(Bounds), func(i int) bool { return Bounds[i] >= d })
	h.mu.Lock()
	h.counts[i]++
	h.sum += d
	h.n++
	if d > h.max {
		h.max = d
	}
	h.mu.Unlock()
}

// Quantile estimates the q-quantile (0..1) as the upper bound of the bucket
// holding it, capped at the largest value seen.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var acc uint64
	for i, c := range h.counts {
		acc += c
		if acc >= rank {
			if i < len(Bounds) {
				return min(Bounds[i], h.max)
			}
			return h.max
		}
	}
	return h.max
}

// Snapshot returns cumulative bucket counts (same order as Bounds plus
// +Inf), the sum and the count.
func (h *Histogram) Snapshot() (cum []uint64, sum time.Duration, n uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cum = make([]uint64, len(h.counts))
	var acc uint64
	for i, c := range h.counts {
		acc += c
		cum[i] = acc
	}
	return cum, h.sum, h.n
}

// Reset empties the histogram (benchmarks measure after warm-up).
func (h *Histogram) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.counts)
	h.sum, h.n, h.max = 0, 0, 0
}

func sortSlice[T any](s []T, less func(a, b T) bool) {
	sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
}
