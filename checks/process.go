package checks

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "process", Summary: "a process on the box is running (count between min and max)", NeedsTarget: true, New: newProcess})
}

// Process counts running processes by name: the kernel's comm, the
// executable's base name, or a substring of the command line.
type Process struct {
	name     string
	contains string
	min      int
	max      *int
}

var _ Checker = (*Process)(nil)

func newProcess(s Spec) (Checker, error) {
	var o struct {
		Min             *int   `yaml:"min"`
		Max             *int   `yaml:"max"`
		CmdlineContains string `yaml:"cmdline_contains"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	p := &Process{name: s.Target, contains: o.CmdlineContains, min: 1, max: o.Max}
	if o.Min != nil {
		p.min = *o.Min
	}
	if p.min < 0 {
		return nil, &FieldError{Field: "options.min", Msg: "must not be negative"}
	}
	if p.max != nil && *p.max < p.min {
		return nil, &FieldError{Field: "options.max", Msg: fmt.Sprintf("%d is below min %d", *p.max, p.min)}
	}
	return p, nil
}

func (p *Process) matches(pi procInfo) bool {
	if p.contains != "" {
		return strings.Contains(pi.cmdline, p.contains)
	}
	// comm is cut to 15 characters by the kernel.
	return pi.comm == p.name || pi.exe == p.name || (len(p.name) > 15 && pi.comm == p.name[:15])
}

// Check counts matching processes.
func (p *Process) Check(ctx context.Context) Result {
	start := time.Now()
	if runtime.GOOS != "linux" {
		return Result{Time: start, Status: Unknown, Detail: "process checks the box itself and needs Linux's /proc"}
	}
	ps, err := listProcesses()
	if err != nil {
		return Result{Time: start, Status: Unknown, Detail: err.Error()}
	}
	n := 0
	var pids []string
	for _, pi := range ps {
		if p.matches(pi) {
			n++
			if len(pids) < 5 {
				pids = append(pids, fmt.Sprint(pi.pid))
			}
		}
	}
	r := Result{Time: start, Status: OK, Latency: Since(start)}.WithValue(float64(n))
	what := p.name
	if p.contains != "" {
		what = fmt.Sprintf("command line containing %q", p.contains)
	}
	switch {
	case n < p.min && n == 0:
		r.Status, r.Detail = Critical, fmt.Sprintf("%s is not running", what)
	case n < p.min:
		r.Status, r.Detail = Critical, fmt.Sprintf("%d %s running, expected at least %d", n, what, p.min)
	case p.max != nil && n > *p.max:
		r.Status, r.Detail = Warning, fmt.Sprintf("%d %s running, expected at most %d", n, what, *p.max)
	default:
		r.Detail = fmt.Sprintf("%d running (pid %s)", n, strings.Join(pids, ", "))
		if n == 0 {
			r.Detail = "0 running"
		}
	}
	return r
}
