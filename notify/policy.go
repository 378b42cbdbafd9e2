package notify

import (
	"slices"
	"time"

	"outpost/checks"
)

// Policy decides who hears about which incidents, and when. It is
// configured as it is (notify.policies[] in the site config).
type Policy struct {
	Name string `yaml:"name"`
	// Severities, Groups, Devices and Checks match incidents (each
	// empty: any); Labels must all be equal on the incident.
	Severities []checks.Severity `yaml:"severities"`
	Groups     []string          `yaml:"groups"`
	Devices    []string          `yaml:"devices"`
	Checks     []string          `yaml:"checks"`
	Labels     map[string]string `yaml:"labels"`
	// Steps notify channels in order, each After the incident opened
	// while it is still unacknowledged. A channel "oncall:<rotation>"
	// means whoever is on call when the message goes out.
	Steps []Step `yaml:"steps"`
	// Repeat re-notifies everybody reached so far this often until the
	// incident is acknowledged or resolved (0: no reminders);
	// RepeatBySeverity overrides it per severity (critical more often).
	Repeat           time.Duration                     `yaml:"repeat"`
	RepeatBySeverity map[checks.Severity]time.Duration `yaml:"repeat_by_severity"`
	// SelfHealedInfo sends an info message for incidents that healed
	// before anybody was notified (default: say nothing).
	SelfHealedInfo bool `yaml:"self_healed_info"`
	// GroupWindow holds the first message this long so that incidents of
	// one site with the same parent that open together (everything
	// behind a dead switch) go out as one message (0: no grouping).
	GroupWindow time.Duration `yaml:"group_window"`
	// HealingGrace is the longest the first message waits while
	// self-healing is still trying (default 10 min).
	HealingGrace time.Duration `yaml:"healing_grace"`
}

// Step is one escalation step.
type Step struct {
	After    time.Duration `yaml:"after"`
	Channels []string      `yaml:"channels"`
}

// DefaultHealingGrace is used when a policy sets no HealingGrace.
const DefaultHealingGrace = 10 * time.Minute

// Matches reports whether the policy applies to an incident.
func (p Policy) Matches(inc Incident) bool {
	if !(len(p.Severities) == 0 || slices.Contains(p.Severities, inc.Severity)) ||
		!(len(p.Groups) == 0 || slices.Contains(p.Groups, inc.Group)) ||
		!(len(p.Devices) == 0 || slices.Contains(p.Devices, inc.Device)) ||
		!(len(p.Checks) == 0 || slices.Contains(p.Checks, inc.Check)) {
		return false
	}
	for k, v := range p.Labels {
		if got, ok := inc.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// RepeatFor is the reminder interval for a severity (0: none).
func (p Policy) RepeatFor(severity checks.Severity) time.Duration {
	if d, ok := p.RepeatBySeverity[severity]; ok {
		return d
	}
	return p.Repeat
}

func (p Policy) healingGrace() time.Duration {
	if p.HealingGrace > 0 {
		return p.HealingGrace
	}
	return DefaultHealingGrace
}
