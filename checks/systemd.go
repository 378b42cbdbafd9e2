package checks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "systemd", Summary: "a systemd unit on the box is active", OnBox: true, NeedsTarget: true, New: newSystemd})
}

// Systemd checks a unit's state by asking systemctl, which is on every
// systemd box and keeps Outpost free of a D-Bus client.
type Systemd struct{ unit string }

var _ Checker = (*Systemd)(nil)

// unitRE is systemd's character set for unit names.
var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,255}$`)

// unitTypes are the suffixes systemd knows; any other name gets ".service",
// as systemctl itself does ("php8.2-fpm" is "php8.2-fpm.service").
var unitTypes = []string{".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer", ".slice", ".scope"}

func newSystemd(s Spec, _ Deps) (Checker, error) {
	var o map[string]any
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if len(o) > 0 {
		keys := slices.Sorted(maps.Keys(o))
		return nil, &FieldError{Field: "options", Msg: "the systemd kind takes no options (found " + strings.Join(keys, ", ") + ")"}
	}
	unit := s.Target
	if !unitRE.MatchString(unit) || strings.HasPrefix(unit, "-") {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not a unit name (e.g. ssh.service)", unit)}
	}
	if !slices.Contains(unitTypes, path.Ext(unit)) {
		unit += ".service"
	}
	return &Systemd{unit: unit}, nil
}

// unitState is the part of `systemctl show` the check reads.
type unitState struct {
	LoadState, ActiveState, SubState, Result string
}

// parseSystemctlShow reads `systemctl show --property=...` output: one
// Key=value per line, in systemd's order rather than the order asked.
func parseSystemctlShow(out string) unitState {
	var u unitState
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
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

// judge turns a unit's state into a status and detail.
func (u unitState) judge(unit string) (Status, string) {
	d := fmt.Sprintf("%s is %s (%s)", unit, u.ActiveState, u.SubState)
	if u.Result != "" && u.Result != "success" {
		d += ", last result " + u.Result
	}
	switch {
	case u.LoadState == "not-found":
		return Critical, unit + ": unit not found"
	case u.LoadState == "masked":
		return Critical, d + ", masked"
	case u.ActiveState == "active":
		return OK, d
	case u.ActiveState == "activating", u.ActiveState == "reloading", u.ActiveState == "deactivating":
		return Warning, d
	case u.ActiveState == "failed", u.ActiveState == "inactive":
		return Critical, d
	case u.ActiveState == "":
		return Unknown, unit + ": systemctl gave no ActiveState"
	}
	return Unknown, d + " (a state Outpost does not know)"
}

// Check runs systemctl show.
func (s *Systemd) Check(ctx context.Context) Result {
	start := time.Now()
	unknown := func(d string) Result {
		return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: d}
	}
	if runtime.GOOS != "linux" {
		return unknown("systemd: not supported on " + runtime.GOOS + " (systemd units exist only on Linux)")
	}
	out, err := exec.CommandContext(ctx, "systemctl", "show", "--property=ActiveState,SubState,LoadState,Result", "--", s.unit).Output()
	if err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound):
			return unknown("systemctl is not installed on this box (a container?), so " + s.unit + " cannot be checked")
		case ctx.Err() != nil:
			return unknown(fmt.Sprintf("systemctl did not answer in time about %s (%v)", s.unit, context.Cause(ctx)))
		}
		msg := err.Error()
		var xe *exec.ExitError
		if errors.As(err, &xe) && len(xe.Stderr) > 0 {
			// systemctl explains itself on several lines; keep one.
			msg = strings.Join(strings.Fields(string(xe.Stderr)), " ")
		}
		return unknown("systemctl: " + msg)
	}
	st, d := parseSystemctlShow(string(out)).judge(s.unit)
	return Result{Time: start, Status: st, Latency: Since(start), Detail: d}
}
