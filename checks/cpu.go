package checks

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

func init() {
	Register(Kind{Name: "cpu", Summary: "the box's CPU busy % since the previous run, with load averages", New: newCPU})
}

// CPU measures how busy the box's processors were since the last run
// (on the first run, over a short sample).
type CPU struct {
	t    Thresholds
	mu   sync.Mutex
	prev *cpuTimes
}

var _ Checker = (*CPU)(nil)

type pctOptions struct {
	Warning  *float64 `yaml:"warning"`
	Critical *float64 `yaml:"critical"`
}

func pctThresholds(s Spec, warn, crit float64) (Thresholds, error) {
	var o pctOptions
	if err := s.Options.Decode(&o); err != nil {
		return Thresholds{}, err
	}
	return makePct(o, warn, crit)
}

// makePct applies defaults to percentage thresholds and validates them.
func makePct(o pctOptions, warn, crit float64) (Thresholds, error) {
	if o.Warning == nil {
		o.Warning = &warn
	}
	if o.Critical == nil {
		o.Critical = &crit
	}
	for name, v := range map[string]float64{"warning": *o.Warning, "critical": *o.Critical} {
		if v < 0 || v > 100 {
			return Thresholds{}, &FieldError{Field: "options." + name, Msg: fmt.Sprintf("%g is not a percentage (0 to 100)", v)}
		}
	}
	if *o.Warning > *o.Critical {
		return Thresholds{}, &FieldError{Field: "options.warning", Msg: fmt.Sprintf("%g is above critical %g", *o.Warning, *o.Critical)}
	}
	return Thresholds{Warning: o.Warning, Critical: o.Critical}, nil
}

func newCPU(s Spec) (Checker, error) {
	if runtime.GOOS != "linux" {
		return &CPU{}, nil
	}
	t, err := pctThresholds(s, 85, 95)
	return &CPU{t: t}, err
}

// Check reports busy % since the previous run.
func (c *CPU) Check(ctx context.Context) Result {
	start := time.Now()
	if runtime.GOOS != "linux" {
		return Result{Time: start, Status: Unknown, Detail: "cpu checks the box itself and need Linux's /proc"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, cores, err := readCPUTimes()
	if err != nil {
		return Result{Time: start, Status: Unknown, Detail: err.Error()}
	}
	if c.prev == nil {
		// First run: sample over a short window.
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return Result{Time: start, Status: Unknown, Detail: "cancelled while sampling"}
		}
		prev := cur
		c.prev = &prev
		if cur, cores, err = readCPUTimes(); err != nil {
			return Result{Time: start, Status: Unknown, Detail: err.Error()}
		}
	}
	dt, db := cur.total-c.prev.total, cur.busy-c.prev.busy
	c.prev = &cur
	pct := 0.0
	if dt > 0 {
		pct = 100 * float64(db) / float64(dt)
	}
	r := Result{Time: start, Status: c.t.Eval(pct), Latency: Since(start)}.WithValue(pct)
	r.Detail = fmt.Sprintf("%.1f%% busy on %d cores, load %s", pct, cores, readLoadavg())
	return r
}
