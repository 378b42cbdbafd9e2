package checks

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

func init() {
	Register(Kind{Name: "memory", Summary: "the box's memory used % (MemTotal - MemAvailable) and swap", New: newMemory})
}

// Memory checks the box's RAM use.
type Memory struct {
	t    Thresholds
	swap *float64
}

var _ Checker = (*Memory)(nil)

func newMemory(s Spec) (Checker, error) {
	var o struct {
		Warning     *float64 `yaml:"warning"`
		Critical    *float64 `yaml:"critical"`
		SwapWarning *float64 `yaml:"swap_warning"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	t, err := makePct(pctOptions{Warning: o.Warning, Critical: o.Critical}, 85, 95)
	return &Memory{t: t, swap: o.SwapWarning}, err
}

// Check reads /proc/meminfo.
func (m *Memory) Check(ctx context.Context) Result {
	start := time.Now()
	if runtime.GOOS != "linux" {
		return Result{Time: start, Status: Unknown, Detail: "memory checks the box itself and needs Linux's /proc"}
	}
	mi, err := readMeminfo()
	if err != nil {
		return Result{Time: start, Status: Unknown, Detail: err.Error()}
	}
	total, avail := mi["MemTotal"], mi["MemAvailable"]
	if total == 0 {
		return Result{Time: start, Status: Unknown, Detail: "/proc/meminfo has no MemTotal"}
	}
	used := total - min(avail, total)
	pct := 100 * float64(used) / float64(total)
	r := Result{Time: start, Status: m.t.Eval(pct), Latency: Since(start)}.WithValue(pct)
	swapPct := 0.0
	if st := mi["SwapTotal"]; st > 0 {
		swapPct = 100 * float64(st-min(mi["SwapFree"], st)) / float64(st)
	}
	r.Detail = fmt.Sprintf("used %s of %s (%.0f%%), swap %.0f%%", fmtBytes(used), fmtBytes(total), pct, swapPct)
	if m.swap != nil && swapPct > *m.swap {
		r.Status = Worst(r.Status, Warning)
		r.Detail += fmt.Sprintf(" (swap above %g%%)", *m.swap)
	}
	return r
}
