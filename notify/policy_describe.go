package notify

import "strings"

// PolicySummary is a policy in words, as the Notifications page shows it.
type PolicySummary struct {
	// Matches is which incidents it applies to ("any incident",
	// "severity critical, group core").
	Matches string
	// Repeat is its reminders ("no reminders", "reminders every 30m0s
	// until acknowledged").
	Repeat string
	// Steps is one line per step ("at once: email", "after 15m0s
	// unacknowledged: sms").
	Steps []string
}

// Describe says in words what the policy matches, whom it notifies when,
// and how often it reminds.
func (p Policy) Describe() PolicySummary {
	s := PolicySummary{Matches: "any incident", Repeat: "no reminders"}
	var m []string
	if len(p.Severities) > 0 {
		sevs := make([]string, len(p.Severities))
		for i, sev := range p.Severities {
			sevs[i] = string(sev)
		}
		m = append(m, "severity "+strings.Join(sevs, " or "))
	}
	if len(p.Groups) > 0 {
		m = append(m, "group "+strings.Join(p.Groups, " or "))
	}
	if len(m) > 0 {
		s.Matches = strings.Join(m, ", ")
	}
	if p.Repeat > 0 {
		s.Repeat = "reminders every " + p.Repeat.String() + " until acknowledged"
	}
	for _, st := range p.Steps {
		s.Steps = append(s.Steps, st.Describe())
	}
	return s
}

// Describe says when the step notifies whom.
func (s Step) Describe() string {
	when := "at once"
	if s.After > 0 {
		when = "after " + s.After.String() + " unacknowledged"
	}
	return when + ": " + strings.Join(s.Channels, ", ")
}
