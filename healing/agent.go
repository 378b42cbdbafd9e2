package healing

import (
	"context"
	"fmt"
	"strings"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "agent_restart", Summary: "restart a Windows service or systemd unit on a server, through its Outpost agent", New: newAgentRestart})
}

// AgentAction is an action carried out by an agent rather than on the
// box: the Runner runs it through its checks.AgentCommander.
type AgentAction interface {
	Action
	// RunThrough performs the action with agents, which may be nil
	// (no agent support wired): that is a checks.ErrNoAgent failure.
	RunThrough(ctx context.Context, agents checks.AgentCommander) (output string, err error)
}

// AgentRestart restarts a service on a configured device through the
// agent running there.
type AgentRestart struct {
	device, service string
}

var _ AgentAction = (*AgentRestart)(nil)

func newAgentRestart(opts checks.Options, env Env, _ checks.Deps) (Action, error) {
	var o struct {
		Action  string `yaml:"action"`
		Device  string `yaml:"device"`
		Service string `yaml:"service"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if o.Device == "" {
		return nil, &checks.FieldError{Field: "device", Msg: "is required: the configured device whose agent restarts the service"}
	}
	// An agent stands for the server it runs on, so its name will do
	// where no devices: entry describes that server.
	if env == nil || (env.Device(o.Device) == nil && env.Agent(o.Device) == nil) {
		return nil, &checks.FieldError{Field: "device", Msg: fmt.Sprintf("%q is neither a configured device nor a configured agent", o.Device)}
	}
	// Service names go to the agent as data, never through a shell, but
	// an option-looking or path-looking name is always a mistake.
	if o.Service == "" || strings.HasPrefix(o.Service, "-") || strings.ContainsAny(o.Service, "/\\\n") {
		return nil, &checks.FieldError{Field: "service", Msg: fmt.Sprintf("%q is not a service name (e.g. Spooler, nginx.service)", o.Service)}
	}
	return &AgentRestart{device: o.Device, service: o.Service}, nil
}

// Run without an agent commander: there is no agent to ask.
func (a *AgentRestart) Run(ctx context.Context) (string, error) { return a.RunThrough(ctx, nil) }

// RunThrough asks the device's agent to restart the service.
func (a *AgentRestart) RunThrough(ctx context.Context, agents checks.AgentCommander) (string, error) {
	if agents == nil {
		return "", fmt.Errorf("%w for device %s (no agent client in this process)", checks.ErrNoAgent, a.device)
	}
	out, err := agents.RestartService(ctx, a.device, a.service)
	if err != nil {
		return out, fmt.Errorf("restarting %s on %s through its agent: %w", a.service, a.device, err)
	}
	return out, nil
}

// Target is the service on its device.
func (a *AgentRestart) Target() string { return "agent:" + a.device + "/" + a.service }

// Describe says what it does.
func (a *AgentRestart) Describe() string {
	return "restart service " + a.service + " on " + a.device + " (agent)"
}
