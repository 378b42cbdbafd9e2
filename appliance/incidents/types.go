// Package incidents turns check results into incidents: confirmation
// before opening, flap detection, parent/child dependencies, maintenance
// windows, a timeline per incident, and self-healing with safeguards.
// Incidents are persisted through the Store interface (bbolt in the
// daemon) and survive restarts.
package incidents

import (
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
	ID       uint64        `json:"id"`
	Check    string        `json:"check"`
	Kind     string        `json:"kind"`
	Device   string        `json:"device"`
	Group    string        `json:"group,omitempty"`
	Severity string        `json:"severity"`
	Status   checks.Status `json:"status"`
	State    State         `json:"state"`
	Summary  string        `json:"summary"`
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
	Resolution string     `json:"resolution,omitempty"` // recovered, self-healed, technician
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
	Escalation  EventKind = "escalated"
	Notified    EventKind = "notified"
	Ack         EventKind = "acknowledged"
	Note        EventKind = "note"
	Resolve     EventKind = "resolved"
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
