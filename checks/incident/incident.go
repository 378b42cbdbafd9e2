// Package incident holds the plain data of an incident: the Incident
// record, its timeline Events, states and resolutions. It is a leaf
// package so that everything that shows or sends incidents (notify, ui,
// phone home) can use the same types without importing the engine that
// makes them (appliance/incidents) or the store that keeps them.
//
// Incident is the one incident model: the engine stores it as JSON,
// notify is told it (with what only the site config adds), the UI reads
// it through its backend, and phone home turns it into the protocol's
// wire.Incident in one function.
package incident

import (
	"slices"
	"time"

	"outpost/checks"
)

// State is an incident's lifecycle state.
type State string

// Incident states.
const (
	Open         State = "open"
	Acknowledged State = "acknowledged"
	Resolved     State = "resolved"
)

// Incident is one problem with one check, from detection to resolution.
type Incident struct {
	ID       uint64          `json:"id"`
	Check    string          `json:"check"`
	Kind     string          `json:"kind"`
	Device   string          `json:"device"`
	Group    string          `json:"group,omitempty"`
	Severity checks.Severity `json:"severity"`
	Status   checks.Status   `json:"status"`
	State    State           `json:"state"`
	Summary  string          `json:"summary"`
	// Flapping marks an incident opened for a check that keeps changing
	// state, instead of one incident per change.
	Flapping bool `json:"flapping,omitempty"`
	// InMaintenance: opened during a maintenance window; it neither
	// notifies nor heals.
	InMaintenance bool `json:"in_maintenance,omitempty"`
	// Children are checks unreachable behind this incident's check.
	Children []string `json:"children,omitempty"`
	// HealingSuspended: the attempts limit was reached.
	HealingSuspended bool `json:"healing_suspended,omitempty"`
	// Escalated: healing could not fix it (or was not allowed to try);
	// a human is needed.
	Escalated  bool       `json:"escalated,omitempty"`
	Opened     time.Time  `json:"opened"`
	Acked      *time.Time `json:"acked,omitempty"`
	AckedBy    string     `json:"acked_by,omitempty"`
	Resolved   *time.Time `json:"resolved,omitempty"`
	Resolution string     `json:"resolution,omitempty"` // ResolvedByItself, SelfHealed or ByTechnician
	Timeline   []Event    `json:"timeline"`
}

// EventKind names a timeline entry.
type EventKind string

// Timeline entry kinds.
const (
	Detected    EventKind = "detected"
	Updated     EventKind = "updated"
	Unreachable EventKind = "unreachable"
	Healing     EventKind = "healing"
	// Escalation: healing could not fix it, or has nothing to try; a
	// technician is needed. ("escalated" is what notifications say when a
	// policy step reaches new people; timelines written before kept that
	// word here.)
	Escalation EventKind = "technician"
	Notified   EventKind = "notified"
	Ack        EventKind = "acknowledged"
	Note       EventKind = "note"
	Resolve    EventKind = "resolved"
)

// Event is one timeline entry.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   EventKind `json:"kind"`
	By     string    `json:"by,omitempty"`
	Text   string    `json:"text"`
	Output string    `json:"output,omitempty"`
	OK     *bool     `json:"ok,omitempty"`
}

// IsOpen reports whether the incident is not resolved.
func (i *Incident) IsOpen() bool { return i.State != Resolved }

// SelfHealed reports whether one of Outpost's remediations fixed it (see
// the SelfHealed resolution).
func (i *Incident) SelfHealed() bool { return i.Resolution == SelfHealed }

// HealingTried lists what self-healing tried, one line per attempt (the
// texts of the timeline's healing entries), as notifications say it.
func (i *Incident) HealingTried() []string {
	var out []string
	for _, ev := range i.Timeline {
		if ev.Kind == Healing {
			out = append(out, ev.Text)
		}
	}
	return out
}

// Clone returns a deep copy, sharing nothing with i: the engine hands
// out clones so that what it changes later (a timeline entry moved with
// the clock) does not change an incident notify or a page still holds.
func (i *Incident) Clone() Incident {
	c := *i
	c.Children = slices.Clone(i.Children)
	c.Acked, c.Resolved = cloneTime(i.Acked), cloneTime(i.Resolved)
	c.Timeline = slices.Clone(i.Timeline)
	for k := range c.Timeline {
		if ok := c.Timeline[k].OK; ok != nil {
			v := *ok
			c.Timeline[k].OK = &v
		}
	}
	return c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

// Resolutions: how an incident ended.
const (
	// ResolvedByItself: the check recovered without anyone acting.
	ResolvedByItself = "recovered"
	// SelfHealed: an automatic remediation succeeded and the re-check
	// right after it passed. A check that recovers after a failed action,
	// or later on its own, is ResolvedByItself.
	SelfHealed = "self-healed"
	// ByTechnician: someone resolved it by hand.
	ByTechnician = "technician"
)
