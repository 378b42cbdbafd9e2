package checks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "systemd", Summary: "a systemd unit on the box is active", NeedsTarget: true, New: newSystemd})
}

// Systemd checks a unit's state through systemctl.
type Systemd struct{ unit string }

var _ Checker = (*Systemd)(nil)

func newSystemd(s Spec) (Checker, error) {
	if err := s.Options.Decode(&struct{}{}); err != nil {
		return nil, err
	}
	unit := s.Target
	if strings.ContainsAny(unit, " /\\") || strings.HasPrefix(unit, "-") {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not a unit name", unit)}
	}
	if !strings.Contains(unit, ".") {
		unit += ".service"
	}
	return &Systemd{unit: unit}, nil
}

// UnitState is the part of `systemctl show` the check reads.
type UnitState struct {
	LoadState, ActiveState, SubState, Result string
}

// ParseSystemctlShow reads `systemctl show --property=...` output.
func ParseSystemctlShow(out string) UnitState {
	var u UnitState
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "LoadState":
			u.LoadState = v
		case "ActiveState":
			u.ActiveState = v
		case "SubState":
			u.SubState = v
		case "Result":
			u.Result = v
		}
	}
	return u
}

// Judge turns a unit's state into a status and detail.
func (u UnitState) Judge(unit string) (Status, string) {
	d := fmt.Sprintf("%s is %s (%s)", unit, u.ActiveState, u.SubState)
	if u.Result != "" && u.Result != "success" {
		d += ", last result " + u.Result
	}
	switch {
	case u.LoadState == "not-found":
		return Critical, unit + ": unit not found"
	case u.ActiveState == "active":
		return OK, d
	case u.ActiveState == "activating" || u.ActiveState == "reloading" || u.ActiveState == "deactivating":
		return Warning, d
	case u.ActiveState == "":
		return Unknown, unit + ": systemctl gave no state"
	}
	return Critical, d
}

// Check runs systemctl show.
func (s *Systemd) Check(ctx context.Context) Result {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "systemctl", "show", "--property=LoadState,ActiveState,SubState,Result", "--", s.unit).Output()
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "systemctl is not available on this box"}
		}
		if len(out) == 0 {
			msg := err.Error()
			var xe *exec.ExitError
			if errors.As(err, &xe) && len(xe.Stderr) > 0 {
				msg = strings.TrimSpace(string(xe.Stderr))
			}
			return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "systemctl: " + msg}
		}
	}
	st, d := ParseSystemctlShow(string(out)).Judge(s.unit)
	return Result{Time: start, Status: st, Latency: Since(start), Detail: d}
}
