package checks

import (
	"context"
	"fmt"
	"time"
)

func init() {
	Register(Kind{Name: "memory", Summary: "the box's memory used % (MemTotal - MemAvailable) and swap", OnBox: true, New: newMemory})
}

// Memory checks the box's RAM use from /proc/meminfo. Page cache the
// kernel can drop counts as available, as in free's "available" column.
type Memory struct {
	t    Thresholds
	swap *float64
}

var _ Checker = (*Memory)(nil)

func newMemory(s Spec, _ Deps) (Checker, error) {
	var o struct {
		Warning     *percent `yaml:"warning"`
		Critical    *percent `yaml:"critical"`
		SwapWarning *percent `yaml:"swap_warning"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	t, err := pctThresholds(o.Warning, o.Critical, 85, 95, "")
	if err != nil {
		return nil, err
	}
	m := &Memory{t: t}
	if o.SwapWarning != nil {
		v := float64(*o.SwapWarning)
		m.swap = &v
	}
	return m, nil
}

// Check reads /proc/meminfo.
func (m *Memory) Check(ctx context.Context) Result {
	start := time.Now()
	mi, err := readMeminfo()
	if err != nil {
		return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "memory: " + err.Error()}
	}
	u, err := memFromInfo(mi)
	if err != nil {
		return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "memory: " + err.Error()}
	}
	pct := 100 * float64(u.used) / float64(u.total)
	swapPct := 0.0
	if u.swapTotal > 0 {
		swapPct = 100 * float64(u.swapUsed) / float64(u.swapTotal)
	}
	r := Result{Time: start, Status: m.t.Eval(pct), Latency: Since(start)}.WithValue(pct)
	r.Detail = fmt.Sprintf("used %s of %s (%.0f%%), swap %.0f%%", fmtBytes(u.used), fmtBytes(u.total), pct, swapPct)
	if u.estimated {
		r.Detail += " (estimated: this kernel has no MemAvailable)"
	}
	if m.swap != nil && swapPct > *m.swap {
		r.Status = Worst(r.Status, Warning)
		r.Detail += fmt.Sprintf(", swap above %g%%", *m.swap)
	}
	return r
}
