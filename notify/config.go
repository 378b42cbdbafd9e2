package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"outpost/checks"
)

// Config is the `notify:` section: channels, policies, people, on-call
// rotations and acknowledge links. Notify owns it; the config package
// decodes it through the section registered here, straight into these
// types (a Policy is configured as it is used).
type Config struct {
	// AckBaseURL is the box's web UI address as technicians reach it
	// (e.g. https://outpost.acme.lan:8443); acknowledge links point there.
	AckBaseURL string `yaml:"ack_base_url"`
	// AckValid is how long an acknowledge link works (default 72h).
	AckValid time.Duration   `yaml:"ack_valid"`
	Channels []ChannelConfig `yaml:"channels"`
	Policies []Policy        `yaml:"policies"`
	// People maps a person to the channels that reach them.
	People map[string][]string `yaml:"people"`
	// OnCall rotations, named in policy steps as "oncall:<name>".
	OnCall []OnCallConfig `yaml:"oncall"`
}

// ChannelConfig is one channel as configured.
type ChannelConfig struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Options are the kind's settings, decoded by the kind.
	Options checks.Options `yaml:"options"`
}

// OnCallConfig is a weekly rotation as configured.
type OnCallConfig struct {
	Name string `yaml:"name"`
	// Handover is when the first person's week starts (RFC 3339); the
	// next person takes over every 7 days at the same time.
	Handover  string           `yaml:"handover"`
	Rotation  []string         `yaml:"rotation"`
	Overrides []OverrideConfig `yaml:"overrides"`
}

// OverrideConfig puts Person on call from Start to End (RFC 3339).
type OverrideConfig struct {
	Start  string `yaml:"start"`
	End    string `yaml:"end"`
	Person string `yaml:"person"`
}

// DefaultAckValid is how long acknowledge links work by default.
const DefaultAckValid = 72 * time.Hour

// section is the `notify:` section's registration.
var section = checks.RegisterSection("notify", (*Config).check)

// ConfigOf returns the notify section of a parsed config.
func ConfigOf(s checks.Sections) *Config { return section.Of(s) }

// Build makes the configured channels, by name.
func (c *Config) Build() (map[string]Channel, error) {
	out := map[string]Channel{}
	for i, ch := range c.Channels {
		built, err := c.channel(i)
		if err != nil {
			return nil, fmt.Errorf("channel %q: %w", ch.Name, err)
		}
		out[ch.Name] = built
	}
	return out, nil
}

func (c *Config) channel(i int) (Channel, error) {
	opts := c.Channels[i].Options
	if opts == nil {
		opts = checks.NoOptions{}
	}
	return Build(c.Channels[i].Kind, opts)
}

// OnCalls returns the rotations (validated) as the engine uses them.
func (c *Config) OnCalls() []OnCall {
	var out []OnCall
	for _, o := range c.OnCall {
		h, _ := time.Parse(time.RFC3339, o.Handover)
		oc := OnCall{Name: o.Name, Handover: h, Rotation: o.Rotation}
		for _, ov := range o.Overrides {
			s, _ := time.Parse(time.RFC3339, ov.Start)
			e, _ := time.Parse(time.RFC3339, ov.End)
			oc.Overrides = append(oc.Overrides, Override{Start: s, End: e, Person: ov.Person})
		}
		out = append(out, oc)
	}
	return out
}

// check applies the defaults and validates the section: every channel
// built, every name a policy or a person uses configured.
func (c *Config) check(checks.Site) error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &checks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.AckValid == 0 {
		c.AckValid = DefaultAckValid
	}
	if c.AckBaseURL != "" {
		if u, err := url.Parse(c.AckBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			fail("ack_base_url", "%q is not an http(s) URL", c.AckBaseURL)
		}
	}
	names := map[string]bool{}
	for i, ch := range c.Channels {
		if ch.Name == "" || names[ch.Name] {
			fail(fmt.Sprintf("channels[%d].name", i), "%q is empty or used twice", ch.Name)
		}
		names[ch.Name] = true
	}
	for i := range c.Channels {
		if _, err := c.channel(i); err != nil {
			var fe *checks.FieldError
			switch {
			case errors.As(err, &fe) && fe.Field == "kind":
				fail(fmt.Sprintf("channels[%d].kind", i), "%s", fe.Msg)
			case errors.As(err, &fe):
				fail(fmt.Sprintf("channels[%d].options.%s", i, fe.Field), "%s", fe.Msg)
			default:
				errs = append(errs, err) // the options decoder's, located already
			}
		}
	}
	rotations := map[string]bool{}
	for person, chs := range c.People {
		for _, ch := range chs {
			if !names[ch] {
				fail("people."+person, "%q is not a configured channel", ch)
			}
		}
	}
	for i, o := range c.OnCall {
		path := fmt.Sprintf("oncall[%d]", i)
		rotations[o.Name] = true
		if _, err := time.Parse(time.RFC3339, o.Handover); err != nil {
			fail(path+".handover", "%q is not a time like 2026-11-23T09:00:00+01:00", o.Handover)
		}
		if len(o.Rotation) == 0 {
			fail(path+".rotation", "names nobody")
		}
		for _, p := range o.Rotation {
			if _, ok := c.People[p]; !ok {
				fail(path+".rotation", "%q is not in notify.people", p)
			}
		}
		for j, ov := range o.Overrides {
			s, err1 := time.Parse(time.RFC3339, ov.Start)
			e, err2 := time.Parse(time.RFC3339, ov.End)
			if err1 != nil || err2 != nil || !e.After(s) {
				fail(fmt.Sprintf("%s.overrides[%d]", path, j), "start and end must be times like 2026-12-24T00:00:00+01:00, end after start")
			}
			if _, ok := c.People[ov.Person]; !ok {
				fail(fmt.Sprintf("%s.overrides[%d].person", path, j), "%q is not in notify.people", ov.Person)
			}
		}
	}
	policyNames := map[string]bool{}
	for i, p := range c.Policies {
		path := fmt.Sprintf("policies[%d]", i)
		if p.Name == "" {
			fail(path+".name", "is required")
		} else if policyNames[p.Name] {
			fail(path+".name", "%q is used twice", p.Name)
		}
		policyNames[p.Name] = true
		if len(p.Steps) == 0 {
			fail(path+".steps", "needs at least one step")
		}
		for _, s := range p.Severities {
			if err := s.Validate(); err != nil {
				fail(path+".severities", "%v", err)
			}
		}
		if p.Repeat != 0 && p.Repeat < time.Minute {
			fail(path+".repeat", "%s is too often (at least 1m, or 0 for no reminders)", p.Repeat)
		}
		for sev, d := range p.RepeatBySeverity {
			if err := sev.Validate(); err != nil {
				fail(path+".repeat_by_severity", "%v", err)
			}
			if d != 0 && d < time.Minute {
				fail(path+".repeat_by_severity."+string(sev), "%s is too often (at least 1m, or 0 for no reminders)", d)
			}
		}
		if p.GroupWindow < 0 || p.GroupWindow > 10*time.Minute {
			fail(path+".group_window", "%s is out of range (0 to 10m: it delays the first message)", p.GroupWindow)
		}
		if p.HealingGrace < 0 || p.HealingGrace > time.Hour {
			fail(path+".healing_grace", "%s is out of range (0 for the default 10m, at most 1h)", p.HealingGrace)
		}
		for j, s := range p.Steps {
			if s.After < 0 {
				fail(fmt.Sprintf("%s.steps[%d].after", path, j), "%s is negative", s.After)
			}
			if j > 0 && s.After < p.Steps[j-1].After {
				fail(fmt.Sprintf("%s.steps[%d].after", path, j), "%s comes before the previous step's %s (steps are in time order)", s.After, p.Steps[j-1].After)
			}
			if len(s.Channels) == 0 {
				fail(fmt.Sprintf("%s.steps[%d].channels", path, j), "lists no channel")
			}
			for _, ch := range s.Channels {
				if r, ok := strings.CutPrefix(ch, "oncall:"); ok {
					if !rotations[r] {
						fail(fmt.Sprintf("%s.steps[%d].channels", path, j), "%q names no configured on-call rotation", ch)
					}
					continue
				}
				if !names[ch] {
					fail(fmt.Sprintf("%s.steps[%d].channels", path, j), "%q is not a configured channel", ch)
				}
			}
		}
	}
	return errors.Join(errs...)
}
