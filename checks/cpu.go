package checks

import (
	"context"
	"fmt"
	"sync"
	"time"
)

func init() {
	Register(Kind{Name: "cpu", Summary: "the box's CPU busy % since the previous run, with load averages", OnBox: true, New: newCPU})
}

// cpuFirstSample is how long the first run samples, having no earlier
// reading to compare with.
const cpuFirstSample = 200 * time.Millisecond

// CPU measures how busy the box's processors were since its previous run,
// from /proc/stat. Busy is everything but idle and iowait.
type CPU struct {
	t Thresholds

	mu   sync.Mutex // serialises runs: each one moves prev
	prev *cpuTimes
}

var _ Checker = (*CPU)(nil)

func newCPU(s Spec, _ Deps) (Checker, error) {
	var o struct {
		Warning  *percent `yaml:"warning"`
		Critical *percent `yaml:"critical"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	t, err := pctThresholds(o.Warning, o.Critical, 85, 95, "")
	if err != nil {
		return nil, err
	}
	return &CPU{t: t}, nil
}

// Check reports busy % since the previous run; the first run (and a run
// after the counters went backwards) samples for 200 ms instead.
func (c *CPU) Check(ctx context.Context) Result {
	start := time.Now()
	unknown := func(d string) Result {
		return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "cpu: " + d}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, cores, err := readCPUTimes()
	if err != nil {
		return unknown(err.Error())
	}
	pct, ok := 0.0, false
	if c.prev != nil {
		pct, ok = busyPercent(*c.prev, cur)
	}
	if !ok {
		t := time.NewTimer(cpuFirstSample)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return unknown(fmt.Sprintf("cancelled while sampling (%v)", context.Cause(ctx)))
		}
		base := cur
		if cur, cores, err = readCPUTimes(); err != nil {
			return unknown(err.Error())
		}
		if pct, ok = busyPercent(base, cur); !ok {
			c.prev = &cur
			return unknown("/proc/stat counters did not advance in 200 ms")
		}
	}
	c.prev = &cur
	r := Result{Time: start, Status: c.t.Eval(pct), Latency: Since(start)}.WithValue(pct)
	r.Detail = fmt.Sprintf("%.1f%% busy on %d cores", pct, cores)
	if la, ok := readLoadavg(); ok {
		r.Detail += ", load " + la
	}
	return r
}
