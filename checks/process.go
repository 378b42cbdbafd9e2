package checks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "process", Summary: "a process on the box is running (count between min and max)", OnBox: true, NeedsTarget: true, New: newProcess})
}

// commLen is how much of a process name the kernel keeps in comm.
const commLen = 15

// Process counts running processes by name: the kernel's comm or the
// executable's base name, or by a substring of the command line.
type Process struct {
	name     string
	contains string
	min      int
	max      *int
}

var _ Checker = (*Process)(nil)

func newProcess(s Spec, _ Deps) (Checker, error) {
	var o struct {
		Min             *int   `yaml:"min"`
		Max             *int   `yaml:"max"`
		CmdlineContains string `yaml:"cmdline_contains"`
	}
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if strings.Contains(s.Target, "/") {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is a path; give the process name (e.g. %q)", s.Target, s.Target[strings.LastIndexByte(s.Target, '/')+1:])}
	}
	p := &Process{name: s.Target, contains: o.CmdlineContains, min: 1, max: o.Max}
	if o.Min != nil {
		p.min = *o.Min
	}
	if p.min < 0 {
		return nil, &FieldError{Field: "options.min", Msg: fmt.Sprintf("%d is negative", p.min)}
	}
	if p.max != nil && *p.max < p.min {
		return nil, &FieldError{Field: "options.max", Msg: fmt.Sprintf("%d is below min %d", *p.max, p.min)}
	}
	return p, nil
}

// matches says whether pi is one of the processes counted.
func (p *Process) matches(pi procInfo) bool {
	if p.contains != "" {
		return strings.Contains(pi.cmdline, p.contains)
	}
	if pi.comm == p.name || pi.exe == p.name {
		return true
	}
	// The kernel cuts comm to 15 bytes, and exe can be unreadable
	// (another user's process when not root) or an interpreter (a script
	// named by its shebang), so a long name also matches its cut form.
	return len(p.name) > commLen && pi.comm == p.name[:commLen]
}

// Check counts matching processes.
func (p *Process) Check(ctx context.Context) Result {
	start := time.Now()
	ps, err := listProcesses(ctx)
	if err != nil {
		return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "process: " + err.Error()}
	}
	n := 0
	var pids []string
	for _, pi := range ps {
		if p.matches(pi) {
			n++
			if len(pids) < 5 {
				pids = append(pids, strconv.Itoa(pi.pid))
			}
		}
	}
	if n > len(pids) {
		pids = append(pids, "...")
	}
	r := Result{Time: start, Status: OK, Latency: Since(start)}.WithValue(float64(n))
	what := p.name
	if p.contains != "" {
		what = fmt.Sprintf("command line containing %q", p.contains)
	}
	running := fmt.Sprintf("%d %s running", n, what)
	if n > 0 {
		running += " (pid " + strings.Join(pids, ", ") + ")"
	}
	switch {
	case n == 0 && p.min > 0:
		r.Status, r.Detail = Critical, what+" is not running"
	case n < p.min:
		r.Status, r.Detail = Critical, fmt.Sprintf("%s, expected at least %d", running, p.min)
	case p.max != nil && n > *p.max:
		r.Status, r.Detail = Warning, fmt.Sprintf("%s, expected at most %d", running, *p.max)
	default:
		r.Detail = running
	}
	return r
}
