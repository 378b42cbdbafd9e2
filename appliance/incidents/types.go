// Package incidents turns check results into incidents: confirmation
// before opening, flap detection, parent/child dependencies, maintenance
// windows, a timeline per incident, and self-healing with safeguards.
// Incidents are persisted through the Store interface (bbolt in the
// daemon) and survive restarts.
//
// The data types live in the leaf package checks/incident, so that
// notify, ui and phone home can use them without importing this engine;
// the aliases below keep callers of this package short.
package incidents

import "outpost/checks/incident"

// Incident is one problem with one check (see incident.Incident).
type Incident = incident.Incident

// Event is one timeline entry (see incident.Event).
type Event = incident.Event

// State is an incident's lifecycle state.
type State = incident.State

// EventKind names a timeline entry.
type EventKind = incident.EventKind

// Incident states.
const (
	Open         = incident.Open
	Acknowledged = incident.Acknowledged
	Resolved     = incident.Resolved
)

// Timeline entry kinds.
const (
	Detected    = incident.Detected
	Updated     = incident.Updated
	Unreachable = incident.Unreachable
	Healing     = incident.Healing
	Escalation  = incident.Escalation
	Notified    = incident.Notified
	Ack         = incident.Ack
	Note        = incident.Note
	Resolve     = incident.Resolve
)
