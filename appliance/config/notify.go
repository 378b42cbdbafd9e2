package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
	"outpost/notify"
)

// Notify configures notifications: channels, policies, acknowledge links.
type Notify struct {
	// AckBaseURL is the box's web UI address as technicians reach it
	// (e.g. https://outpost.acme.lan:8443); acknowledge links point there.
	AckBaseURL string `yaml:"ack_base_url"`
	// AckValid is how long an acknowledge link works (default 72h).
	AckValid time.Duration     `yaml:"ack_valid"`
	Channels []NotifyChannel   `yaml:"channels"`
	Policies []NotifyPolicyCfg `yaml:"policies"`
	// People maps a person to the channels that reach them.
	People map[string][]string `yaml:"people"`
	// OnCall rotations, named in policy steps as "oncall:<name>".
	OnCall []OnCallCfg `yaml:"oncall"`
}

// OnCallCfg is a weekly rotation as configured.
type OnCallCfg struct {
	Name string `yaml:"name"`
	// Handover is when the first person's week starts (RFC 3339); the
	// next person takes over every 7 days at the same time.
	Handover  string   `yaml:"handover"`
	Rotation  []string `yaml:"rotation"`
	Overrides []struct {
		Start  string `yaml:"start"`
		End    string `yaml:"end"`
		Person string `yaml:"person"`
	} `yaml:"overrides"`
}

// NotifyOnCalls returns the rotations in notify's terms (validated).
func (c *Config) NotifyOnCalls() []notify.OnCall {
	var out []notify.OnCall
	for _, o := range c.Notify.OnCall {
		h, _ := time.Parse(time.RFC3339, o.Handover)
		oc := notify.OnCall{Name: o.Name, Handover: h, Rotation: o.Rotation}
		for _, ov := range o.Overrides {
			s, _ := time.Parse(time.RFC3339, ov.Start)
			e, _ := time.Parse(time.RFC3339, ov.End)
			oc.Overrides = append(oc.Overrides, notify.Override{Start: s, End: e, Person: ov.Person})
		}
		out = append(out, oc)
	}
	return out
}

// NotifyChannel is one channel.
type NotifyChannel struct {
	Name    string    `yaml:"name"`
	Kind    string    `yaml:"kind"`
	Options yaml.Node `yaml:"options"`
}

// NotifyPolicyCfg is one policy as configured.
type NotifyPolicyCfg struct {
	Name       string   `yaml:"name"`
	Severities []string `yaml:"severities"`
	Groups     []string `yaml:"groups"`
	Devices    []string `yaml:"devices"`
	Checks     []string `yaml:"checks"`
	// Labels must all be equal on the incident.
	Labels map[string]string `yaml:"labels"`
	Repeat time.Duration     `yaml:"repeat"`
	// RepeatBySeverity overrides Repeat per severity.
	RepeatBySeverity map[string]time.Duration `yaml:"repeat_by_severity"`
	SelfHealedInfo   bool                     `yaml:"self_healed_info"`
	GroupWindow      time.Duration            `yaml:"group_window"`
	// HealingGrace is the longest the first message waits while
	// self-healing still tries (default 10m).
	HealingGrace time.Duration `yaml:"healing_grace"`
	Steps        []struct {
		After    time.Duration `yaml:"after"`
		Channels []string      `yaml:"channels"`
	} `yaml:"steps"`
}

// NotifyChannels builds the configured channels by name.
func (c *Config) NotifyChannels() (map[string]notify.Channel, error) {
	out := map[string]notify.Channel{}
	for i := range c.Notify.Channels {
		ch := &c.Notify.Channels[i]
		path := fmt.Sprintf("notify.channels[%d]", i)
		var opts checks.Options = checks.NoOptions{}
		if ch.Options.Kind != 0 {
			n := ch.Options
			opts = nodeOptions{file: c.File, path: path + ".options", node: &n}
		}
		built, err := notify.Build(ch.Kind, opts)
		if err != nil {
			if es, ok := err.(Errors); ok {
				return nil, es
			}
			field, msg := path, err.Error()
			if fe, ok := err.(*checks.FieldError); ok {
				field, msg = path+"."+fe.Field, fe.Msg
				if fe.Field != "kind" {
					field = path + ".options." + fe.Field
				}
			}
			return nil, Errors{{File: c.File, Line: ch.Options.Line, Field: field, Msg: msg}}
		}
		out[ch.Name] = built
	}
	return out, nil
}

// NotifyPolicies returns the policies in notify's terms.
func (c *Config) NotifyPolicies() []notify.Policy {
	var out []notify.Policy
	for _, p := range c.Notify.Policies {
		np := notify.Policy{Name: p.Name, Severities: p.Severities, Groups: p.Groups, Devices: p.Devices, Checks: p.Checks, Labels: p.Labels,
			Repeat: p.Repeat, RepeatBySeverity: p.RepeatBySeverity, SelfHealedInfo: p.SelfHealedInfo, GroupWindow: p.GroupWindow, HealingGrace: p.HealingGrace}
		for _, s := range p.Steps {
			np.Steps = append(np.Steps, notify.Step{After: s.After, Channels: s.Channels})
		}
		out = append(out, np)
	}
	return out
}

func (c *Config) validateNotify(d *decoder) {
	fail := func(field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Notify.AckValid == 0 {
		c.Notify.AckValid = 72 * time.Hour
	}
	if c.Notify.AckBaseURL != "" {
		if u, err := url.Parse(c.Notify.AckBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			fail("notify.ack_base_url", "%q is not an http(s) URL", c.Notify.AckBaseURL)
		}
	}
	names := map[string]bool{}
	for i, ch := range c.Notify.Channels {
		if ch.Name == "" || names[ch.Name] {
			fail(fmt.Sprintf("notify.channels[%d].name", i), "%q is empty or used twice", ch.Name)
		}
		names[ch.Name] = true
	}
	if _, err := c.NotifyChannels(); err != nil {
		if es, ok := err.(Errors); ok {
			d.errs = append(d.errs, es...)
		}
	}
	rotations := map[string]bool{}
	for person, chs := range c.Notify.People {
		for _, ch := range chs {
			if !names[ch] {
				fail("notify.people."+person, "%q is not a configured channel", ch)
			}
		}
	}
	for i, o := range c.Notify.OnCall {
		path := fmt.Sprintf("notify.oncall[%d]", i)
		rotations[o.Name] = true
		if _, err := time.Parse(time.RFC3339, o.Handover); err != nil {
			fail(path+".handover", "%q is not a time like 2026-11-23T09:00:00+01:00", o.Handover)
		}
		if len(o.Rotation) == 0 {
			fail(path+".rotation", "names nobody")
		}
		for _, p := range o.Rotation {
			if _, ok := c.Notify.People[p]; !ok {
				fail(path+".rotation", "%q is not in notify.people", p)
			}
		}
		for j, ov := range o.Overrides {
			s, err1 := time.Parse(time.RFC3339, ov.Start)
			e, err2 := time.Parse(time.RFC3339, ov.End)
			if err1 != nil || err2 != nil || !e.After(s) {
				fail(fmt.Sprintf("%s.overrides[%d]", path, j), "start and end must be times like 2026-12-24T00:00:00+01:00, end after start")
			}
			if _, ok := c.Notify.People[ov.Person]; !ok {
				fail(fmt.Sprintf("%s.overrides[%d].person", path, j), "%q is not in notify.people", ov.Person)
			}
		}
	}
	policyNames := map[string]bool{}
	for i, p := range c.Notify.Policies {
		path := fmt.Sprintf("notify.policies[%d]", i)
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
			if !slices.Contains(checks.Severities, s) {
				fail(path+".severities", "%q is not a severity (one of %s)", s, strings.Join(checks.Severities, ", "))
			}
		}
		if p.Repeat != 0 && p.Repeat < time.Minute {
			fail(path+".repeat", "%s is too often (at least 1m, or 0 for no reminders)", p.Repeat)
		}
		for sev, d := range p.RepeatBySeverity {
			if !slices.Contains(checks.Severities, sev) {
				fail(path+".repeat_by_severity", "%q is not a severity (one of %s)", sev, strings.Join(checks.Severities, ", "))
			}
			if d != 0 && d < time.Minute {
				fail(path+".repeat_by_severity."+sev, "%s is too often (at least 1m, or 0 for no reminders)", d)
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
}
