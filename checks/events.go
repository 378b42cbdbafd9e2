package checks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Events are what devices say on their own: SNMP traps and syslog lines
// (docs/logs.md). The receivers make them, the store keeps them bounded,
// and log_match rules and `outpost logs` read them back through an
// EventReader, so one rule language covers traps and syslog alike.

// Event sources (Event.Source).
const (
	SourceTrap   = "trap"
	SourceSyslog = "syslog"
	// SourceEventLog is an agent's event log entry or log line, kept
	// by an agent_eventlog check with keep: true.
	SourceEventLog = "eventlog"
	// SourceJournal is an entry of the box's own systemd journal
	// (syslog.journal), kept like a syslog line.
	SourceJournal = "journal"
)

// LineSource reports whether events of source are lines kept like
// syslog's (within the syslog retention, matched on app: message,
// their severity a field): syslog and the box's journal.
func LineSource(source string) bool { return source == SourceSyslog || source == SourceJournal }

// Fields of an agent event log Event: Name is the entry's source
// (provider, syslog identifier), Detail its message.
const (
	FieldEventID = "event_id" // a Windows event ID
	FieldLevel   = "level"    // critical, error, warning, information, ...
	FieldLog     = "log"      // Application, System, journal, a file path
)

// EventKeeper keeps events (the store): what a check that collects
// events (agent_eventlog with keep) hands them to.
type EventKeeper interface {
	// AppendEvent keeps e within the store's bounds (it never blocks
	// and may drop, counting it).
	AppendEvent(e Event)
}

// Fields of a syslog Event (Event.Fields). Name is the app (or "syslog"
// when the line names none), Detail the message.
const (
	FieldFacility  = "facility"  // keyword: auth, daemon, local0, ...
	FieldSeverity  = "severity"  // keyword: emerg ... debug
	FieldHost      = "host"      // the HOSTNAME the line carries
	FieldApp       = "app"       // APP-NAME / TAG
	FieldProcID    = "procid"    // PROCID / the [pid] of a TAG
	FieldMsgID     = "msgid"     // RFC 5424 MSGID
	FieldTimestamp = "timestamp" // the sender's own timestamp, RFC 3339
	FieldSender    = "sender"    // the IP address the line came from
	FieldTransport = "transport" // udp, tcp, tls
	FieldFormat    = "format"    // rfc3164, rfc5424, raw (not syslog: kept as the text)
	FieldTrapOID   = "trap_oid"  // a trap's OID, without the leading dot
	FieldUnit      = "unit"      // a journal entry's systemd unit
	FieldCursor    = "cursor"    // a journal entry's cursor (where the box goes on after a restart)
)

// EventQuery selects stored events.
type EventQuery struct {
	// Source is SourceSyslog, SourceTrap, SourceEventLog, SourceJournal,
	// or "" for every source.
	Source string
	// Devices, when not empty, are the only devices read.
	Devices []string
	// Device, when set, says which devices to read (a group's); it is
	// asked once per device, not per event.
	Device func(name string) bool
	// From and To bound the events' times, both included; a zero To is
	// no upper bound.
	From, To time.Time
	// Newest reads newest first (else oldest first).
	Newest bool
}

// EventReader reads the events a store keeps (store.Store).
type EventReader interface {
	// ScanEvents calls fn with each event q selects, every device's
	// merged in time order (newest first when q.Newest), events waiting
	// for the store's next commit included, until fn returns false. It
	// reads one consistent view: keep fn quick, the view is held while
	// it runs. Errors are the store's (an unreadable file).
	ScanEvents(q EventQuery, fn func(Event) bool) error
}

// EventText is what a rule's regex and `outpost logs --grep` match: the
// event's name (a line's app, a trap's name), a colon and its detail (a
// line's message); a trap's variables follow as name=value.
func EventText(e Event) string {
	var b strings.Builder
	b.WriteString(e.Name)
	b.WriteString(": ")
	b.WriteString(e.Detail)
	if !LineSource(e.Source) && len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(" ")
			b.WriteString(k)
			b.WriteString("=")
			b.WriteString(e.Fields[k])
		}
	}
	return b.String()
}

// Syslog severities (RFC 5424 6.2.1), most severe first: the keyword of
// code i is SyslogSeverities[i].
var SyslogSeverities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// severityAliases are the other names rsyslog and people use.
var severityAliases = map[string]int{"panic": 0, "emergency": 0, "critical": 2, "error": 3, "warn": 4, "informational": 6}

// ParseSyslogSeverity reads a severity keyword (emerg ... debug, or an
// alias such as error, warn, critical) or its code 0 to 7.
func ParseSyslogSeverity(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i, n := range SyslogSeverities {
		if n == t {
			return i, nil
		}
	}
	if i, ok := severityAliases[t]; ok {
		return i, nil
	}
	if i, err := strconv.Atoi(t); err == nil && i >= 0 && i < len(SyslogSeverities) {
		return i, nil
	}
	return 0, fmt.Errorf("%q is not a syslog severity (one of %s, or 0 to 7)", s, strings.Join(SyslogSeverities, ", "))
}

// SyslogFacilities are the facility keywords (RFC 5424 6.2.1, as rsyslog
// names them): the keyword of code i is SyslogFacilities[i].
var SyslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "cron2",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// ParseSyslogFacility reads a facility keyword or its code 0 to 23.
func ParseSyslogFacility(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i, n := range SyslogFacilities {
		if n == t {
			return i, nil
		}
	}
	if i, err := strconv.Atoi(t); err == nil && i >= 0 && i < len(SyslogFacilities) {
		return i, nil
	}
	return 0, fmt.Errorf("%q is not a syslog facility (one of %s, or 0 to 23)", s, strings.Join(SyslogFacilities, ", "))
}

// SyslogStatus is the Status an event of a syslog severity carries:
// emerg, alert and crit are critical, err and warning warnings, the rest
// ok.
func SyslogStatus(sev int) Status {
	switch {
	case sev <= 2:
		return Critical
	case sev <= 4:
		return Warning
	}
	return OK
}

// EventSeverity is an event's severity on the syslog scale (0 emerg ...
// 7 debug): a line's own; for other events the one of their Status
// (critical 2, warning 4, unknown 5, ok 6), so that "at least warning"
// means the same for traps and lines.
func EventSeverity(e Event) int {
	if s, ok := e.Fields[FieldSeverity]; ok && LineSource(e.Source) {
		if i, err := ParseSyslogSeverity(s); err == nil {
			return i
		}
	}
	switch e.Severity {
	case Critical:
		return 2
	case Warning:
		return 4
	case Unknown:
		return 5
	}
	return 6
}
