package checks

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

func init() {
	Register(Kind{Name: "log_match", Summary: "syslog lines or SNMP traps matching a rule: any, or more than N in a window; resolves after a quiet period or a clear line", New: newLogMatch})
}

// LogMatch is a log rule: it counts the stored events (syslog lines,
// traps) that match it in a sliding window, and fails while the count
// is over its threshold and for a quiet period after, unless a clear
// line came since. It reads the store on each run rather than keeping
// counts itself, so a restart forgets nothing and every run of the same
// events gives the same verdict.
type LogMatch struct {
	source    string
	devices   []string
	group     string
	env       Env
	facility  []int
	severity  int // at least (syslog scale); 7 admits all
	apps      []string
	transport []string
	traps     []string
	re, clear *regexp.Regexp
	threshold int
	window    time.Duration
	quiet     time.Duration
	status    Status
	deps      Deps
}

var _ Checker = (*LogMatch)(nil)

// Bounds of a rule's options.
const (
	maxLogThreshold = 100_000
	maxLogWindow    = 24 * time.Hour
	maxLogQuiet     = 7 * 24 * time.Hour
	// maxLogDetailLine is how much of the matching line a result's
	// detail carries.
	maxLogDetailLine = 400
)

// nameList is an option that takes one name or a list of names.
type nameList []string

// UnmarshalYAML reads a string or a list of strings.
func (l *nameList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = nameList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(nameList, len(n.Content))
		for i, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("element %d must be a string", i)
			}
			out[i] = c.Value
		}
		*l = out
		return nil
	}
	return fmt.Errorf("expected a name or a list of names")
}

type logMatchOptions struct {
	// Rule names a shipped rule (logrules.yaml) whose options the
	// check's own override.
	Rule      string        `yaml:"rule"`
	Source    string        `yaml:"source"`
	Device    nameList      `yaml:"device"`
	Group     string        `yaml:"group"`
	Facility  nameList      `yaml:"facility"`
	Severity  string        `yaml:"severity"`
	App       nameList      `yaml:"app"`
	Transport nameList      `yaml:"transport"`
	Trap      nameList      `yaml:"trap"`
	Regex     string        `yaml:"regex"`
	Clear     string        `yaml:"clear"`
	Threshold int           `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
	Quiet     time.Duration `yaml:"quiet"`
	Status    string        `yaml:"status"`
}

func newLogMatch(s Spec, deps Deps) (Checker, error) {
	var o logMatchOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	if o.Rule != "" {
		r, ok := LogRuleNamed(o.Rule)
		if !ok {
			return nil, &FieldError{Field: "options.rule", Msg: fmt.Sprintf("%q is not a shipped rule (one of %s)", o.Rule, logRuleNames())}
		}
		name := o.Rule
		o = logMatchOptions{}
		if err := r.Options.Decode(&o); err != nil {
			return nil, fmt.Errorf("shipped rule %s: %w", name, err)
		}
		// The check's own options override the rule's.
		if err := s.Options.Decode(&o); err != nil {
			return nil, err
		}
		o.Rule = name
	}
	m := &LogMatch{severity: 7, threshold: o.Threshold, window: o.Window, quiet: o.Quiet, status: Critical, env: s.Env, group: o.Group, deps: deps}
	switch o.Source {
	case "":
		m.source = SourceSyslog
		if len(o.Trap) > 0 {
			m.source = SourceTrap
		}
	case SourceSyslog, SourceTrap, SourceEventLog, SourceJournal:
		m.source = o.Source
	case "any":
		m.source = ""
	default:
		return nil, &FieldError{Field: "options.source", Msg: fmt.Sprintf("%q is not an event source (one of syslog, trap, eventlog, journal, any)", o.Source)}
	}
	if m.source == SourceTrap && (len(o.Facility) > 0 || len(o.App) > 0 || len(o.Transport) > 0) {
		return nil, &FieldError{Field: "options.source", Msg: "facility, app and transport are fields of syslog lines; a trap rule matches trap: or regex:"}
	}
	if m.source == SourceEventLog && (len(o.Facility) > 0 || len(o.App) > 0 || len(o.Transport) > 0 || len(o.Trap) > 0) {
		return nil, &FieldError{Field: "options.source", Msg: "facility, app, transport and trap are not fields of agent event log entries; an eventlog rule matches regex: (\"source: message event_id=N level=L log=LOG\")"}
	}
	for _, tr := range o.Transport {
		if tr != "udp" && tr != "tcp" && tr != "tls" {
			return nil, &FieldError{Field: "options.transport", Msg: fmt.Sprintf("%q is not udp, tcp or tls", tr)}
		}
		m.transport = append(m.transport, tr)
	}
	if m.source == SourceJournal && len(o.Transport) > 0 {
		return nil, &FieldError{Field: "options.transport", Msg: "the box's journal is read from the box itself, not over a transport"}
	}
	if LineSource(m.source) && len(o.Trap) > 0 {
		return nil, &FieldError{Field: "options.trap", Msg: "trap: matches SNMP traps, but source is " + m.source + " (use source: trap or any)"}
	}
	m.devices = []string(o.Device)
	if len(m.devices) == 0 && o.Group == "" {
		// A rule for one device may say so as other checks do.
		switch {
		case s.Target != "":
			m.devices = []string{s.Target}
		case s.Labels.Device != "":
			m.devices = []string{s.Labels.Device}
		}
	}
	if len(m.devices) > 0 && o.Group != "" {
		return nil, &FieldError{Field: "options.group", Msg: "give device or group, not both"}
	}
	for _, d := range m.devices {
		if s.Env == nil || s.Env.Device(d) != nil {
			continue
		}
		if _, err := netip.ParseAddr(d); err != nil {
			return nil, &FieldError{Field: "options.device", Msg: fmt.Sprintf("%q is not a configured device (nor an address, as lines from unknown sources are named)", d)}
		}
	}
	for _, f := range o.Facility {
		code, err := ParseSyslogFacility(f)
		if err != nil {
			return nil, &FieldError{Field: "options.facility", Msg: err.Error()}
		}
		m.facility = append(m.facility, code)
	}
	if o.Severity != "" {
		sev, err := ParseSyslogSeverity(o.Severity)
		if err != nil {
			return nil, &FieldError{Field: "options.severity", Msg: err.Error()}
		}
		m.severity = sev
	}
	for _, a := range o.App {
		m.apps = append(m.apps, strings.ToLower(a))
	}
	for _, t := range o.Trap {
		t = strings.TrimPrefix(strings.TrimSpace(t), ".")
		if t == "" {
			return nil, &FieldError{Field: "options.trap", Msg: "a trap is a name (linkDown) or an OID (1.3.6.1.6.3.1.1.5.3)"}
		}
		m.traps = append(m.traps, t)
	}
	var err error
	if m.re, err = compileRule("regex", o.Regex); err != nil {
		return nil, err
	}
	if m.clear, err = compileRule("clear", o.Clear); err != nil {
		return nil, err
	}
	if m.threshold < 0 || m.threshold > maxLogThreshold {
		return nil, &FieldError{Field: "options.threshold", Msg: fmt.Sprintf("%d is not 0 to %d (the rule fails when more than this many events match in window; 0: any)", m.threshold, maxLogThreshold)}
	}
	if m.window == 0 {
		m.window = 5 * time.Minute
	}
	if m.window < time.Second || m.window > maxLogWindow {
		return nil, &FieldError{Field: "options.window", Msg: fmt.Sprintf("%s is not 1s to 24h", m.window)}
	}
	if m.quiet == 0 {
		m.quiet = m.window
	}
	if m.quiet < time.Second || m.quiet > maxLogQuiet {
		return nil, &FieldError{Field: "options.quiet", Msg: fmt.Sprintf("%s is not 1s to 7d", m.quiet)}
	}
	switch o.Status {
	case "", "critical":
	case "warning":
		m.status = Warning
	default:
		return nil, &FieldError{Field: "options.status", Msg: fmt.Sprintf("%q is not warning or critical", o.Status)}
	}
	return m, nil
}

func compileRule(field, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, &FieldError{Field: "options." + field, Msg: fmt.Sprintf("%q is not a regular expression (RE2 syntax): %v", expr, err)}
	}
	return re, nil
}

// inScope reports whether e is one the rule looks at: its source,
// facility, app and transport. A clear line need only be in scope and match clear;
// a match must also be the trap, be severe enough and match regex.
func (m *LogMatch) inScope(e Event) bool {
	if m.source != "" && e.Source != m.source {
		return false
	}
	if len(m.facility) > 0 {
		f, err := ParseSyslogFacility(e.Fields[FieldFacility])
		if err != nil || !slices.Contains(m.facility, f) {
			return false
		}
	}
	if len(m.apps) > 0 && !slices.Contains(m.apps, strings.ToLower(e.Fields[FieldApp])) {
		return false
	}
	if len(m.transport) > 0 && !slices.Contains(m.transport, e.Fields[FieldTransport]) {
		return false
	}
	return true
}

// trapMatches: the trap's name, or its OID or an OID it is under.
func (m *LogMatch) trapMatches(e Event) bool {
	if e.Source != SourceTrap {
		return false
	}
	oid := e.Fields[FieldTrapOID]
	for _, t := range m.traps {
		if strings.EqualFold(e.Name, t) || oid == t || strings.HasPrefix(oid, t+".") {
			return true
		}
	}
	return false
}

// Check counts the matching events of the last window plus quiet period.
func (m *LogMatch) Check(ctx context.Context) Result {
	start := time.Now()
	now := m.deps.Clock.Now()
	res := Result{Time: now}
	if m.deps.Events == nil {
		res.Status, res.Detail = Unknown, "no event store in this process (log rules run in the daemon)"
		return res
	}
	q := EventQuery{Source: m.source, Devices: m.devices, From: now.Add(-m.window - m.quiet), To: now}
	if m.group != "" {
		q.Device = func(name string) bool {
			if m.env == nil {
				return false
			}
			d := m.env.Device(name)
			return d != nil && d.Group == m.group
		}
	}
	var (
		// hits are the times of the latest matches since the last clear
		// line, at most threshold+1 of them: enough to know whether
		// more than threshold fall in one window.
		hits              []time.Time
		firedAt           time.Time
		last, cleared     *Event
		lastN, clearedN   int // which events they were, in scan order
		inWindow, scanned int
		windowStart       = now.Add(-m.window)
	)
	err := m.deps.Events.ScanEvents(q, func(e Event) bool {
		scanned++
		if scanned%1024 == 0 && ctx.Err() != nil {
			return false
		}
		if !m.inScope(e) {
			return true
		}
		text := ""
		if m.clear != nil || m.re != nil {
			text = EventText(e)
		}
		if m.clear != nil && m.clear.MatchString(text) {
			hits, firedAt, inWindow = hits[:0], time.Time{}, 0
			if last != nil { // a clear line with nothing to clear says nothing
				ev := e
				cleared, clearedN = &ev, scanned
			}
			return true
		}
		if (len(m.traps) > 0 && !m.trapMatches(e)) || EventSeverity(e) > m.severity || (m.re != nil && !m.re.MatchString(text)) {
			return true
		}
		if len(hits) == m.threshold+1 {
			hits = hits[1:]
		}
		hits = append(hits, e.Time)
		for len(hits) > 0 && !hits[0].After(e.Time.Add(-m.window)) {
			hits = hits[1:]
		}
		if len(hits) > m.threshold {
			firedAt = e.Time
		}
		if e.Time.After(windowStart) {
			inWindow++
		}
		ev := e
		last, lastN = &ev, scanned
		return true
	})
	res.Latency = Since(start)
	res = res.WithValue(float64(inWindow))
	switch {
	case err != nil:
		res.Status, res.Detail = Unknown, fmt.Sprintf("reading events: %v", err)
	case ctx.Err() != nil:
		res.Status, res.Detail = Unknown, fmt.Sprintf("reading events: %v after %d events", context.Cause(ctx), scanned)
	case !firedAt.IsZero() && now.Sub(firedAt) < m.quiet:
		res.Status = m.status
		if m.threshold == 0 {
			res.Detail = fmt.Sprintf("%s (%d in the last %s)", lineOf(last), inWindow, m.window)
		} else {
			res.Detail = fmt.Sprintf("more than %d matching in %s (%d in the last %s); latest: %s", m.threshold, m.window, inWindow, m.window, lineOf(last))
		}
	case cleared != nil && lastN < clearedN:
		res.Status, res.Detail = OK, "cleared: "+lineOf(cleared)
	case !firedAt.IsZero():
		res.Status, res.Detail = OK, fmt.Sprintf("quiet for %s since: %s", m.quiet, lineOf(last))
	case last != nil:
		res.Status, res.Detail = OK, fmt.Sprintf("%d matching in the last %s (alarm above %d); latest: %s", inWindow, m.window, m.threshold, lineOf(last))
	default:
		res.Status, res.Detail = OK, fmt.Sprintf("no matching event in the last %s", m.window+m.quiet)
	}
	return res
}

// lineOf is an event as a result's detail shows it: when, the device,
// and its text, cut.
func lineOf(e *Event) string {
	t := EventText(*e)
	if len(t) > maxLogDetailLine {
		n := maxLogDetailLine
		for n > 0 && t[n]&0xC0 == 0x80 {
			n--
		}
		t = t[:n] + "…"
	}
	return fmt.Sprintf("%s %s %s", e.Time.Format("15:04:05"), e.Device, t)
}
