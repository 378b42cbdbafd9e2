// Package notify tells people about incidents: channels (one file per
// kind, one small interface, a registry like check kinds), policies with
// escalation steps and reminders until someone acknowledges, signed
// acknowledge links, and a durable outbox so a restart neither loses nor
// repeats a message. It knows incidents only through the small Incident
// type below; the appliance adapts its engine's incidents to it.
package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"outpost/checks"
)

// Incident is what notifications need to know about an incident.
type Incident struct {
	ID            uint64
	Site          string
	Check         string
	Device        string
	Group         string
	Severity      string
	Status        string
	Summary       string
	Opened        time.Time
	Healing       []string
	InMaintenance bool
	Flapping      bool
	SelfHealed    bool
}

// Message is one notification. ID is stable across retries and restarts,
// so a receiver can drop a duplicate.
type Message struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"` // opened, reminder, escalated, resolved, test
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
}

// Subject is the one-line summary used as an email subject and a chat
// title.
func (m Message) Subject() string {
	switch m.Kind {
	case "resolved":
		return fmt.Sprintf("[%s] RESOLVED %s on %s", m.Site, m.Check, m.Device)
	case "test":
		return fmt.Sprintf("[%s] Outpost test message", m.Site)
	}
	prefix := strings.ToUpper(m.Status)
	if m.Kind == "reminder" {
		prefix = "STILL " + prefix
	}
	return fmt.Sprintf("[%s] %s %s on %s: %s", m.Site, prefix, m.Check, m.Device, m.Summary)
}

// Text is the plain-text body: site, device, check, what is wrong, since
// when, what healing tried, and the acknowledge link.
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nSite:     %s\nDevice:   %s\nCheck:    %s\nSeverity: %s\n", m.Subject(), m.Site, m.Device, m.Check, m.Severity)
	if !m.Since.IsZero() {
		fmt.Fprintf(&b, "Since:    %s (%s)\n", m.Since.Format("2006-01-02 15:04 MST"), m.Time.Sub(m.Since).Round(time.Minute))
	}
	fmt.Fprintf(&b, "What:     %s\n", m.Summary)
	if len(m.Healing) > 0 {
		fmt.Fprintf(&b, "Healing:  %s\n", strings.Join(m.Healing, "; "))
	}
	if m.AckURL != "" {
		fmt.Fprintf(&b, "\nAcknowledge: %s\n", m.AckURL)
	}
	fmt.Fprintf(&b, "\nIncident %d, message %s\n", m.Incident, m.ID)
	return b.String()
}

// Channel delivers messages. Send must honour ctx. A failure that
// retrying cannot fix (bad address, 4xx) is a *PermanentError.
type Channel interface {
	Send(ctx context.Context, m Message) (answer string, err error)
}

// PermanentError marks a failure not worth retrying.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Kind builds a channel from its config.
type Kind struct {
	Name string
	New  func(opts checks.Options) (Channel, error)
}

var (
	regMu    sync.RWMutex
	registry = map[string]Kind{}
)

// Register adds a channel kind.
func Register(k Kind) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[k.Name]; dup {
		panic("notify: kind registered twice: " + k.Name)
	}
	registry[k.Name] = k
}

// KindNames lists the channel kinds.
func KindNames() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Build makes a channel of a kind.
func Build(kind string, opts checks.Options) (Channel, error) {
	regMu.RLock()
	k, ok := registry[kind]
	regMu.RUnlock()
	if !ok {
		return nil, &checks.FieldError{Field: "kind", Msg: fmt.Sprintf("unknown channel kind %q (one of %s)", kind, strings.Join(KindNames(), ", "))}
	}
	return k.New(opts)
}
