package healing

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "systemd_restart", Summary: "restart a systemd unit on the box", New: newSystemdRestart})
}

// SystemdRestart restarts a unit on the box with systemctl.
type SystemdRestart struct{ unit string }

func newSystemdRestart(opts checks.Options, env Env, _ checks.Deps) (Action, error) {
	var o struct {
		Action string `yaml:"action"`
		Unit   string `yaml:"unit"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.Unit == "" || strings.ContainsAny(o.Unit, " /\\") || strings.HasPrefix(o.Unit, "-") {
		return nil, &checks.FieldError{Field: "unit", Msg: fmt.Sprintf("%q is not a unit name", o.Unit)}
	}
	if !strings.Contains(o.Unit, ".") {
		o.Unit += ".service"
	}
	return &SystemdRestart{unit: o.Unit}, nil
}

// Run calls systemctl restart.
func (s *SystemdRestart) Run(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "systemctl", "restart", "--", s.unit).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("systemctl restart %s: %w", s.unit, err)
	}
	return string(out), nil
}

// Target is the unit.
func (s *SystemdRestart) Target() string { return "unit:" + s.unit }

// Describe says what it does.
func (s *SystemdRestart) Describe() string { return "restart unit " + s.unit }
