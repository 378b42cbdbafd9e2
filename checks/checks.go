// Package checks holds Outpost's shared vocabulary (Status, Result, Spec,
// Checker; the site's devices, SNMP access and agents; the Deps a kind is
// built with; feature-owned config sections) and the registry of check
// kinds. Each kind lives in its own file and registers itself in init, so
// adding a kind is one file and one Register call; config validation reads
// the same registry. Package kinds links every kind in.
package checks

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"outpost/checks/registry"
)

// Status is the outcome of one check run. Its numeric values are not an
// order (Unknown is the largest): Rank is the one ranking of statuses.
type Status uint8

// The statuses a check can report.
const (
	OK Status = iota
	Warning
	Critical
	Unknown
)

var statusNames = [...]string{"ok", "warning", "critical", "unknown"}

// String returns the lower-case name used in config, CLI and JSON.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", s)
}

// ParseStatus is the inverse of String.
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames {
		if n == s {
			return Status(i), nil
		}
	}
	return Unknown, fmt.Errorf("%q is not a status (one of %s)", s, strings.Join(statusNames[:], ", "))
}

// MarshalText makes Status print by name in JSON and YAML.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a status name.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Rank orders statuses from best to worst: OK 1 < Unknown 2 < Warning 3 <
// Critical 4. It is the one ranking, for combining results (Worst: an
// unknown part does not hide a warning, but is worse than ok) and for
// display (pages list the worst first). 0 is left below them all for a
// check with no result yet, "pending" on pages (see RankOf).
func (s Status) Rank() int {
	switch s {
	case Critical:
		return 4
	case Warning:
		return 3
	case Unknown:
		return 2
	case OK:
		return 1
	}
	return 0
}

// Compare is -1, 0 or +1 as s ranks below, with or above o.
func (s Status) Compare(o Status) int { return cmp.Compare(s.Rank(), o.Rank()) }

// RankOf ranks a status by name, for pages that also show checks with no
// result yet: critical > warning > unknown > ok > "pending" (or any name
// that is not a status, 0).
func RankOf(name string) int {
	s, err := ParseStatus(name)
	if err != nil {
		return 0
	}
	return s.Rank()
}

// Worst returns the worse of two statuses by Rank (Critical > Warning >
// Unknown > OK); a tie returns a.
func Worst(a, b Status) Status {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// Result is what one run of a check found. A target that is down is a
// Result with Status Critical and a Detail saying why, never a Go error.
type Result struct {
	// Time is when the check started.
	Time time.Time `json:"time"`
	// Status is the verdict.
	Status Status `json:"status"`
	// Value is the kind's main number (ms round trip, % used, days left,
	// ...); meaningful only when HasValue is true.
	Value    float64 `json:"value,omitempty"`
	HasValue bool    `json:"has_value,omitempty"`
	// Latency is how long the check took to answer.
	Latency time.Duration `json:"latency"`
	// Detail is one human-readable line.
	Detail string `json:"detail"`
}

// WithValue returns r with Value set.
func (r Result) WithValue(v float64) Result {
	r.Value, r.HasValue = v, true
	return r
}

// Checker runs one configured check. Check must honour ctx (its deadline is
// the check's timeout) and must not panic; anything that goes wrong with
// the target is reported in the Result.
type Checker interface {
	Check(ctx context.Context) Result
}

// Closer is implemented by checkers that hold resources (sessions, sockets)
// which must be released when the configuration changes.
type Closer interface {
	Close() error
}

// Labels attach a check to a device, a group and a severity.
type Labels struct {
	Device   string   `yaml:"device,omitempty" json:"device,omitempty"`
	Group    string   `yaml:"group,omitempty" json:"group,omitempty"`
	Severity Severity `yaml:"severity,omitempty" json:"severity,omitempty"`
}

// Spec is one check as configured: everything needed to build its Checker.
type Spec struct {
	ID       string
	Kind     string
	Target   string
	Interval time.Duration
	Timeout  time.Duration
	Labels   Labels
	// Options holds the kind-specific settings, still undecoded.
	Options Options
	// Env is the site the check is configured in: the devices and agents
	// a kind's target may name. It may be nil outside a config.
	Env Env
	// Remediations are the check's `remediations:` entries, undecoded, in
	// order: each decodes one action (healing builds them).
	Remediations []Options
}

// Options decodes a check's kind-specific settings into a struct with yaml
// tags. Decode is strict: unknown fields are errors, and errors name the
// file, line and field. A nil or empty Options decodes to the zero value.
type Options interface {
	Decode(v any) error
}

// FieldError is a configuration error in a kind's options. The config
// package turns it into "file:line: checks[i].options.field: msg".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Kind describes one check kind.
type Kind struct {
	// Name is what `kind:` says in the config.
	Name string
	// Summary is one line for `outpost check --kinds` and the README.
	Summary string
	// NeedsTarget is false for kinds that check the box itself.
	NeedsTarget bool
	// OnBox marks a kind that looks at the box itself, its target (if
	// any) naming something on the box (a mount point, a process, a
	// unit), not a device: such a check's device defaults to BoxDevice,
	// not to its target.
	OnBox bool
	// Severity, when set, is the severity of this kind's checks that set
	// none, in place of the site's defaults.severity (a forecast warns).
	Severity Severity
	// New builds a Checker from a Spec, validating the target and options;
	// the Checker keeps what it needs of deps for when it runs. Errors are
	// configuration errors; use *FieldError to point at a field.
	New func(Spec, Deps) (Checker, error)
}

// BoxDevice is the device name of the box itself: the default device of
// checks of an OnBox kind (the embedded default config names it too).
const BoxDevice = "outpost"

// kinds is the registry of check kinds, which config validation reads too.
var kinds = registry.New[Kind]("kind")

// Register adds a kind. It panics on a duplicate name: that is a
// programming error caught by any test.
func Register(k Kind) { kinds.Add(k.Name, k) }

// Lookup returns the kind with the given name.
func Lookup(name string) (Kind, bool) { return kinds.Get(name) }

// Kinds returns every registered kind sorted by name.
func Kinds() []Kind { return kinds.All() }

// KindNames returns the registered kind names, sorted, for error messages.
func KindNames() []string { return kinds.Names() }

// Build makes the Checker for spec through the registry, handing it deps
// (zero Deps to only validate spec).
func Build(spec Spec, deps Deps) (Checker, error) {
	k, ok := Lookup(spec.Kind)
	if !ok {
		return nil, &FieldError{Field: "kind", Msg: kinds.Unknown(spec.Kind)}
	}
	if k.NeedsTarget && spec.Target == "" {
		return nil, &FieldError{Field: "target", Msg: "is required for kind " + spec.Kind}
	}
	if spec.Options == nil {
		spec.Options = NoOptions{}
	}
	return k.New(spec, deps.WithDefaults())
}

// NoOptions is an Options with nothing in it.
type NoOptions struct{}

// Decode leaves v at its zero value.
func (NoOptions) Decode(any) error { return nil }

// Since measures from start to now as a latency, never negative.
func Since(start time.Time) time.Duration {
	d := time.Since(start)
	if d < 0 {
		return 0
	}
	return d
}

// Thresholds is the common "warn above / critical above" pair used by kinds
// with a numeric value. A zero field is "not set".
type Thresholds struct {
	Warning  *float64 `yaml:"warning,omitempty"`
	Critical *float64 `yaml:"critical,omitempty"`
	// Below flips the comparison: alarm when the value falls below.
	Below bool `yaml:"below,omitempty"`
}

// Eval returns the status of v against the thresholds.
func (t Thresholds) Eval(v float64) Status {
	past := func(limit *float64) bool {
		if limit == nil {
			return false
		}
		if t.Below {
			return v < *limit
		}
		return v > *limit
	}
	switch {
	case past(t.Critical):
		return Critical
	case past(t.Warning):
		return Warning
	}
	return OK
}

// Event is something a device said on its own (an SNMP trap, a syslog
// line, a Windows event) rather than something a check measured. Events
// are stored per device and may feed incidents.
type Event struct {
	Time time.Time `json:"time"`
	// Device is the configured device name, or the sender's address when
	// no device matches.
	Device string `json:"device"`
	// Source says where it came from: "trap", "syslog", "eventlog".
	Source string `json:"source"`
	// Name is the understood name (e.g. "linkDown") or the raw identifier.
	Name     string            `json:"name"`
	Severity Status            `json:"severity"`
	Detail   string            `json:"detail"`
	Fields   map[string]string `json:"fields,omitempty"`
}

// Secret is a password, community or key: it decodes from config like a
// string but never prints, so logs, `outpost check` and exports show
// "<secret>" instead.
type Secret string

// String hides the value.
func (Secret) String() string { return "<secret>" }

// GoString hides the value from %#v too.
func (Secret) GoString() string { return `"<secret>"` }

// MarshalText hides the value from JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte("<secret>"), nil }

// UnmarshalText reads the value.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// Reveal returns the value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }
