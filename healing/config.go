package healing

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"outpost/checks"
)

// Config is the `healing:` section: the safeguards and the allow-list of
// the `command` action. Healing owns it; the config package decodes it
// through the section registered here.
type Config struct {
	// MaxAttempts automatic remediation runs per check within Window
	// (default 3 per 1h); past that healing is suspended and escalates.
	MaxAttempts int           `yaml:"max_attempts"`
	Window      time.Duration `yaml:"window"`
	// Settle is the wait after an action before the check runs again
	// (default 10s).
	Settle time.Duration `yaml:"settle"`
	// ActionTimeout bounds one action (default 60s).
	ActionTimeout time.Duration `yaml:"action_timeout"`
	// AllowCommands are the command lines the `command` action may run
	// (AllowedCommand: a program, and exactly which arguments).
	AllowCommands []AllowedCommand `yaml:"allow_commands"`
}

// section is the `healing:` section's registration.
var section = checks.RegisterSection("healing", (*Config).check)

// ConfigOf returns the healing section of a parsed config.
func ConfigOf(s checks.Sections) *Config { return section.Of(s) }

func (c *Config) applyDefaults() {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.Window == 0 {
		c.Window = time.Hour
	}
	if c.Settle == 0 {
		c.Settle = 10 * time.Second
	}
	if c.ActionTimeout == 0 {
		c.ActionTimeout = time.Minute
	}
}

// check applies the defaults, validates the section and builds every
// check's remediations (with zero Deps: nothing runs).
func (c *Config) check(site checks.Site) error {
	c.applyDefaults()
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &checks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		fail("max_attempts", "%d is out of range (1 to 100)", c.MaxAttempts)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"window", c.Window}, {"settle", c.Settle}, {"action_timeout", c.ActionTimeout}} {
		if f.v < 0 {
			fail(f.name, "must be positive")
		}
	}
	for i, a := range c.AllowCommands {
		if msg := a.check(); msg != "" {
			fail(fmt.Sprintf("allow_commands[%d]", i), "%s", msg)
		}
	}
	for _, sp := range site.Specs() {
		for _, opts := range sp.Remediations {
			if _, err := c.build(opts, sp.Env, checks.Deps{}); err != nil {
				errs = append(errs, checks.Locate(opts, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Limits are the section's safeguards.
func (c *Config) Limits() Limits { return Limits{MaxAttempts: c.MaxAttempts, Window: c.Window} }

// Actions builds a check's remediations, in order, handing them deps.
// Errors are located in the config file when sp came from one.
func (c *Config) Actions(sp checks.Spec, deps checks.Deps) ([]Action, error) {
	out := make([]Action, 0, len(sp.Remediations))
	for _, opts := range sp.Remediations {
		a, err := c.build(opts, sp.Env, deps)
		if err != nil {
			return nil, checks.Locate(opts, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// build makes one remediation: its `action:` picks the kind.
func (c *Config) build(opts checks.Options, site checks.Env, deps checks.Deps) (Action, error) {
	var head map[string]any
	opts.Decode(&head) // a remediation that is not a mapping has no action
	action, _ := head["action"].(string)
	if v, ok := head["action"]; ok && action == "" && v != nil {
		switch v.(type) {
		case map[string]any, []any:
		default:
			action = fmt.Sprint(v)
		}
	}
	if action == "" {
		return nil, &checks.FieldError{Field: "action", Msg: fmt.Sprintf("is required (one of %s)", strings.Join(Names(), ", "))}
	}
	return Build(action, opts, env{site: site, c: c}, deps)
}

// AllowedCommand reports whether the `command` action may run argv (the
// program and its arguments); when not, hint names how the program is
// allowed, if it is at all.
func (c *Config) AllowedCommand(argv []string) (ok bool, hint string) {
	return allowed(c.AllowCommands, argv)
}

// env is what remediations are built in: the site's devices and agents,
// and this section's allow-list.
type env struct {
	site checks.Env
	c    *Config
}

func (e env) Device(name string) *checks.Device {
	if e.site == nil {
		return nil
	}
	return e.site.Device(name)
}

func (e env) Agent(name string) *checks.Agent {
	if e.site == nil {
		return nil
	}
	return e.site.Agent(name)
}

func (e env) AllowedCommand(argv []string) (bool, string) { return e.c.AllowedCommand(argv) }
