package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"outpost/checks"
)

func init() { pages = append(pages, (*Server).logPages) }

// LogsBackend is what the Logs page and a device page's log search read.
type LogsBackend interface {
	// SearchLogs returns the stored syslog lines and traps q selects,
	// newest first, at most q.Limit of them, reading at most a bounded
	// number of events (Partial says it stopped there). A filter that
	// does not parse (a bad severity, regex or duration) is EINVALID
	// with a message naming it; other errors are internal.
	SearchLogs(ctx context.Context, q LogQuery) (LogResults, error)
	// LogDevices names the site's configured devices, for the filter.
	LogDevices() []string
	// ShippedRules are the log rules Outpost ships, for a log_match
	// check to name.
	ShippedRules() []ShippedRule
}

// ShippedRule is a shipped log rule: its name, the sets it is in, what
// it catches and the documented format it reads.
type ShippedRule struct {
	Name, Summary, Format string
	Sets                  []string
	// Options are the rule's log_match options as YAML, for reading.
	Options string
}

// LogRulesView is the log rules page: the configured log_match checks
// and the shipped rules.
type LogRulesView struct {
	Rules   []CheckRow
	Shipped []ShippedRule
	CanEdit bool
}

// LogQuery is a search as the page's form gives it: the filters as
// typed, and the page: events at or before Before (Unix milliseconds; 0
// is now), the first Skip of those at exactly Before left out.
type LogQuery struct {
	Device, Severity, Grep, Source, Since string
	Before                                int64
	Skip, Limit                           int
}

// LogResults is one page of a search.
type LogResults struct {
	Events []checks.Event
	// More says older matches exist; Partial that the search stopped
	// reading before it found a page's worth.
	More, Partial bool
	Scanned       int
}

// LogRow is one line or trap as the pages show it.
type LogRow struct {
	Time, Device, Host, Level, Tag, Text string
	Sender, Transport                    string
	Trap                                 bool
	Status                               string
}

// LogsView is the Logs page.
type LogsView struct {
	Q          LogQuery
	Devices    []string
	Severities []string
	Sinces     []string
	Rows       []LogRow
	Problem    string
	Partial    bool
	Scanned    int
	// Older and Newest are the links to the next page and back to the
	// first ("" when there is none).
	Older, Newest string
}

// logsPageSize is how many events a page of the Logs page shows.
const logsPageSize = 50

// logSinces are the periods the Logs page offers.
var logSinces = []string{"1h", "6h", "24h", "7d", "30d"}

func (s *Server) logPages() {
	b := s.o.Logs
	if b == nil {
		return
	}
	s.handle("GET", "/logs", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		v := r.URL.Query()
		q := LogQuery{Device: v.Get("device"), Severity: v.Get("severity"), Grep: v.Get("grep"), Source: v.Get("source"), Since: v.Get("since"), Limit: logsPageSize}
		if q.Since == "" {
			q.Since = "24h"
		}
		var err error
		if str := v.Get("before"); str != "" {
			if q.Before, err = strconv.ParseInt(str, 10, 64); err != nil || q.Before <= 0 {
				return Errorf(EBADREQUEST, "before %q is not a time in Unix milliseconds", str)
			}
		}
		if str := v.Get("skip"); str != "" {
			if q.Skip, err = strconv.Atoi(str); err != nil || q.Skip < 0 {
				return Errorf(EBADREQUEST, "skip %q is not a count", str)
			}
		}
		view := LogsView{Q: q, Devices: b.LogDevices(), Severities: checks.SyslogSeverities, Sinces: logSinces}
		res, err := b.SearchLogs(r.Context(), q)
		var ue *Error
		switch {
		case errors.As(err, &ue) && ue.Code == EINVALID:
			view.Problem = ue.Message
			w.WriteHeader(http.StatusUnprocessableEntity)
		case err != nil:
			return err
		}
		view.Rows = logRows(res.Events)
		view.Partial, view.Scanned = res.Partial, res.Scanned
		if res.More && len(res.Events) > 0 {
			view.Older = "/logs?" + olderPage(q, res.Events).Encode()
		}
		if q.Before != 0 {
			first := q
			first.Before, first.Skip = 0, 0
			view.Newest = "/logs?" + logValues(first).Encode()
		}
		return s.render(w, r, sess, "Logs", logsView(view))
	})
	s.handle("GET", "/logs/rules", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		v := LogRulesView{Shipped: b.ShippedRules(), CanEdit: sess.Role.AtLeast(RoleAdmin) && s.o.CheckEdit != nil}
		if s.o.Checks != nil {
			now := s.o.Clock.Now()
			for _, c := range s.o.Checks.CheckStates() {
				if c.Kind == LogRuleKind {
					v.Rules = append(v.Rules, rowOf(c, now))
				}
			}
		}
		return s.render(w, r, sess, "Log rules", logRulesView(v))
	})
}

// LogRuleKind is the check kind of log rules.
const LogRuleKind = "log_match"

// newRuleURL is the add-a-check form filled in for a shipped rule.
func newRuleURL(rule string) string {
	return "/checks/new?" + url.Values{"kind": {LogRuleKind}, "id": {rule}, "options": {"rule: " + rule}}.Encode()
}

// logValues are a query's filters as URL parameters.
func logValues(q LogQuery) url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"device": q.Device, "severity": q.Severity, "grep": q.Grep, "source": q.Source, "since": q.Since} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if q.Before != 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Skip != 0 {
		v.Set("skip", strconv.Itoa(q.Skip))
	}
	return v
}

// olderPage is the query of the page after events (newest first): the
// events at or before the oldest one's millisecond, less those of that
// millisecond already shown.
func olderPage(q LogQuery, events []checks.Event) url.Values {
	last := events[len(events)-1].Time.UnixMilli()
	n := 0
	for _, e := range events {
		if e.Time.UnixMilli() == last {
			n++
		}
	}
	if last == q.Before {
		n += q.Skip
	}
	q.Before, q.Skip = last, n
	return logValues(q)
}

// logRows are events as the pages show them: a line's
// facility.severity and app[pid], a trap's "trap" and status and name.
func logRows(events []checks.Event) []LogRow {
	rows := make([]LogRow, 0, len(events))
	for _, e := range events {
		f := e.Fields
		row := LogRow{Time: e.Time.Local().Format("2006-01-02 15:04:05"), Device: e.Device, Text: e.Detail, Sender: f[checks.FieldSender], Transport: f[checks.FieldTransport]}
		sev := checks.EventSeverity(e)
		row.Status = checks.SyslogStatus(sev).String()
		if checks.LineSource(e.Source) {
			row.Level = f[checks.FieldFacility] + "." + f[checks.FieldSeverity]
			row.Tag = e.Name
			if p := f[checks.FieldProcID]; p != "" {
				row.Tag += "[" + p + "]"
			}
			if h := f[checks.FieldHost]; h != "" && h != e.Device {
				row.Host = h
			}
		} else {
			row.Trap = true
			row.Level = e.Source + "." + checks.SyslogSeverities[sev]
			row.Tag = e.Name
		}
		rows = append(rows, row)
	}
	return rows
}

// DeviceLogs is the log search on a device page: its newest lines and
// traps matching the page's logq (text) and logsev (severity).
type DeviceLogs struct {
	Device, Grep, Severity string
	Severities             []string
	Rows                   []LogRow
	Problem                string
	More                   bool
	// All is the Logs page with the same search.
	All string
}

// deviceLogsShown is how many lines a device page shows.
const deviceLogsShown = 20

func (s *Server) deviceLogs(ctx context.Context, device string, v url.Values) (*DeviceLogs, error) {
	if s.o.Logs == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q := LogQuery{Device: device, Grep: v.Get("logq"), Severity: v.Get("logsev"), Since: "30d", Limit: deviceLogsShown}
	d := &DeviceLogs{Device: device, Grep: q.Grep, Severity: q.Severity, Severities: checks.SyslogSeverities, All: "/logs?" + logValues(q).Encode()}
	res, err := s.o.Logs.SearchLogs(ctx, q)
	var ue *Error
	switch {
	case errors.As(err, &ue) && ue.Code == EINVALID:
		d.Problem = ue.Message
	case err != nil:
		return nil, err
	}
	d.Rows, d.More = logRows(res.Events), res.More
	return d, nil
}

// deviceLogsURL is the Logs page of one device.
func deviceLogsURL(device string) string {
	return "/logs?" + url.Values{"device": {device}}.Encode()
}
