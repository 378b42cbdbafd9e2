// Package notify tells people about incidents: channels (one file per
// kind, one small interface, a registry like check kinds), policies with
// escalation steps and reminders until someone acknowledges, on-call
// rotations, signed acknowledge links, grouping of incidents that share a
// cause, a durable outbox so a restart neither loses nor repeats a
// message, and the `notify:` config section it owns (config.go). It is
// told about incidents as checks/incident models them, with the few
// things only the site config adds (Incident below).
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"outpost/checks"
	"outpost/checks/incident"
	"outpost/checks/registry"
)

// Incident is what notifications are told about an incident: the
// incident itself, as the incident engine keeps it, and what only the
// site config knows.
type Incident struct {
	incident.Incident
	Site string `json:"site"`
	// Labels are free-form key/values a policy can match on.
	Labels map[string]string `json:"labels,omitempty"`
	// Parent names the common cause (the switch or WAN router this
	// incident sits behind); incidents of one site with the same parent
	// that open together go out as one message.
	Parent string `json:"parent,omitempty"`
	// HealingPending holds the first message while self-healing still
	// has actions to try (at most the policy's healing_grace).
	HealingPending bool `json:"healing_pending,omitempty"`
}

// Message is one notification. ID is stable across retries and restarts,
// so a receiver can drop a duplicate.
type Message struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"` // opened, reminder, escalated, resolved, self-healed, channel-failing, test
	Incident uint64    `json:"incident"`
	Site     string    `json:"site"`
	Device   string    `json:"device"`
	Check    string    `json:"check"`
	Severity string    `json:"severity"`
	Status   string    `json:"status"`
	Summary  string    `json:"summary"`
	Since    time.Time `json:"since"`
	Healing  []string  `json:"healing,omitempty"`
	AckURL   string    `json:"ack_url,omitempty"`
	Time     time.Time `json:"time"`
	// Thread groups all messages of one incident (email threading).
	Thread string `json:"thread"`
	// Parent is the common cause of a grouped message.
	Parent string `json:"parent,omitempty"`
	// Grouped lists the other incidents this message also reports.
	Grouped []Grouped `json:"grouped,omitempty"`
}

// Grouped is one more incident reported in a grouped message.
type Grouped struct {
	Incident uint64    `json:"incident"`
	Device   string    `json:"device"`
	Check    string    `json:"check"`
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	Since    time.Time `json:"since"`
	AckURL   string    `json:"ack_url,omitempty"`
}

// Incidents lists every incident the message reports.
func (m Message) Incidents() []uint64 {
	out := []uint64{m.Incident}
	for _, g := range m.Grouped {
		out = append(out, g.Incident)
	}
	return out
}

// Subject is the one-line summary used as an email subject and a chat
// title.
func (m Message) Subject() string {
	what := fmt.Sprintf("%s on %s", m.Check, m.Device)
	if len(m.Grouped) > 0 {
		what = fmt.Sprintf("%d incidents", len(m.Grouped)+1)
		if m.Parent != "" {
			what += " behind " + m.Parent
		}
	}
	switch m.Kind {
	case "resolved":
		return fmt.Sprintf("[%s] RESOLVED %s", m.Site, what)
	case "self-healed":
		return fmt.Sprintf("[%s] SELF-HEALED %s", m.Site, what)
	case "acknowledged":
		return fmt.Sprintf("[%s] ACKNOWLEDGED %s: %s", m.Site, what, m.Summary)
	case "test":
		return fmt.Sprintf("[%s] Outpost test message", m.Site)
	}
	prefix := strings.ToUpper(m.Status)
	if prefix == "" {
		prefix = strings.ToUpper(m.Severity)
	}
	if m.Kind == "reminder" {
		prefix = "STILL " + prefix
	}
	return fmt.Sprintf("[%s] %s %s: %s", m.Site, prefix, what, m.Summary)
}

// Text is the plain-text body: site, device, check, what is wrong, since
// when, what healing tried, and the acknowledge link.
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nSite:     %s\nDevice:   %s\nCheck:    %s\nSeverity: %s\n", m.Subject(), m.Site, m.Device, m.Check, m.Severity)
	if !m.Since.IsZero() {
		fmt.Fprintf(&b, "Since:    %s (%s ago)\n", m.Since.Format("2006-01-02 15:04 MST"), m.Time.Sub(m.Since).Round(time.Minute))
	}
	fmt.Fprintf(&b, "What:     %s\n", m.Summary)
	if len(m.Healing) > 0 {
		fmt.Fprintf(&b, "Healing:  %s\n", strings.Join(m.Healing, "; "))
	} else if m.Kind != "test" && m.Kind != "channel-failing" {
		b.WriteString("Healing:  none tried\n")
	}
	if m.AckURL != "" {
		fmt.Fprintf(&b, "\nAcknowledge: %s\n", m.AckURL)
	}
	if len(m.Grouped) > 0 {
		b.WriteString("\nAlso:\n")
		for _, g := range m.Grouped {
			fmt.Fprintf(&b, "- %s on %s (%s) since %s: %s\n", g.Check, g.Device, g.Severity, g.Since.Format("15:04"), g.Summary)
			if g.AckURL != "" {
				fmt.Fprintf(&b, "  Acknowledge: %s\n", g.AckURL)
			}
		}
	}
	fmt.Fprintf(&b, "\nIncident %d, message %s\n", m.Incident, m.ID)
	return b.String()
}

// Channel delivers messages. Send must honour ctx and its deadline. It
// returns the server's answer for the log. A failure that retrying cannot
// fix (bad address, 4xx) is a *PermanentError; a server asking to wait is
// a *RetryAfterError; any other error is retried with backoff.
type Channel interface {
	Send(ctx context.Context, m Message) (answer string, err error)
}

// Recipienter is implemented by channels that can say whom they reach,
// for the delivery log (never a secret: a host, addresses, numbers).
type Recipienter interface {
	Recipient() string
}

// PermanentError marks a failure not worth retrying.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// RetryAfterError is a transient failure where the server said how long
// to wait (HTTP 429 or 503 with Retry-After).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Kind builds a channel from its config.
type Kind struct {
	Name string
	// Summary is one line for the docs and the "must be one of" error.
	Summary string
	New     func(opts checks.Options) (Channel, error)
}

// kinds is the registry of channel kinds.
var kinds = registry.New[Kind]("channel kind")

// Register adds a channel kind; a name registered twice panics.
func Register(k Kind) { kinds.Add(k.Name, k) }

// KindNames lists the channel kinds, sorted.
func KindNames() []string { return kinds.Names() }

// Kinds returns every channel kind sorted by name.
func Kinds() []Kind { return kinds.All() }

// Build makes a channel of a kind; errors are *checks.FieldError or the
// options decoder's errors.
func Build(kind string, opts checks.Options) (Channel, error) {
	k, ok := kinds.Get(kind)
	if !ok {
		return nil, &checks.FieldError{Field: "kind", Msg: kinds.Unknown(kind)}
	}
	return k.New(opts)
}
