package ui

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// The Older link of a page continues at the oldest line shown, leaving
// out the lines of its millisecond already shown, also when a whole
// page shares one millisecond.
func TestOlderPageSkipsWhatWasShown(t *testing.T) {
	t0 := time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC)
	ev := func(ms ...int) []checks.Event {
		var out []checks.Event
		for _, m := range ms {
			out = append(out, checks.Event{Time: t0.Add(time.Duration(m) * time.Millisecond)})
		}
		return out
	}
	at := func(ms int) string {
		return strconv.FormatInt(t0.Add(time.Duration(ms)*time.Millisecond).UnixMilli(), 10)
	}
	for _, tc := range []struct {
		name       string
		q          LogQuery
		events     []checks.Event
		before     string
		skip, keep string
	}{
		{"distinct times", LogQuery{Device: "fw"}, ev(9, 8, 7), at(7), "1", "fw"},
		{"ties at the end", LogQuery{}, ev(9, 7, 7, 7), at(7), "3", ""},
		{"a page within one millisecond", LogQuery{Before: t0.Add(7 * time.Millisecond).UnixMilli(), Skip: 3}, ev(7, 7), at(7), "5", ""},
		{"after a tied page", LogQuery{Before: t0.Add(7 * time.Millisecond).UnixMilli(), Skip: 3}, ev(7, 6), at(6), "1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := olderPage(tc.q, tc.events)
			if v.Get("before") != tc.before || v.Get("skip") != tc.skip || v.Get("device") != tc.keep {
				t.Fatalf("older page %v, want before=%s skip=%s device=%q", v, tc.before, tc.skip, tc.keep)
			}
		})
	}
}

// logsBackend serves fixed lines (newest first) and backup jobs: the real
// one is the daemon's store, driven in appliance's browser test.
type logsBackend struct {
	events []checks.Event
	asked  []LogQuery
}

func (b *logsBackend) SearchLogs(_ context.Context, q LogQuery) (LogResults, error) {
	b.asked = append(b.asked, q)
	if q.Grep == "(" {
		return LogResults{}, Errorf(EINVALID, "grep %q is not a regular expression", q.Grep)
	}
	var out LogResults
	skip := q.Skip
	for _, e := range b.events {
		if q.Device != "" && e.Device != q.Device || q.Before != 0 && e.Time.UnixMilli() > q.Before {
			continue
		}
		if skip > 0 && e.Time.UnixMilli() == q.Before {
			skip--
			continue
		}
		if len(out.Events) == q.Limit {
			out.More = true
			break
		}
		out.Events = append(out.Events, e)
	}
	return out, nil
}
func (b *logsBackend) LogDevices() []string { return []string{"fw", "nas"} }
func (b *logsBackend) ShippedRules() []ShippedRule {
	return []ShippedRule{{Name: "ssh-brute-force", Sets: []string{"security"}, Summary: "more than 20 failed SSH logins", Format: "OpenSSH sshd", Options: "app: sshd"}}
}
func (b *logsBackend) Backups(int) ([]BackupView, error) {
	return []BackupView{{Check: "nightly", Status: "critical", Detail: "last run failed", Schedule: "every 1d", Grace: "1h", MaxDuration: "1h", URL: "https://box/ping/x",
		Runs: []BackupRunView{{Started: "2003-04-05 02:00:00", Finished: "2003-04-05 02:00:41", Duration: "41s", Result: "failed", Exit: "2", Output: "<b>disk full</b>", OutputBytes: 9000}}}}, nil
}

// The Logs, Log rules and Backups pages render their rows, page links,
// problems and job runs (selected by data-testid), and the device page
// searches its own lines.
func TestLogsAndBackupsPagesRender(t *testing.T) {
	now := time.Date(2003, 4, 5, 10, 0, 0, 0, time.UTC)
	lb := &logsBackend{}
	for i := range 60 {
		lb.events = append(lb.events, checks.Event{Time: now.Add(-time.Duration(i) * time.Second), Device: "fw", Source: checks.SourceSyslog, Name: "sshd", Detail: fmt.Sprintf("Failed password #%d", 59-i),
			Fields: map[string]string{checks.FieldFacility: "auth", checks.FieldSeverity: "warning"}})
	}
	fc := clock.NewFake(now)
	b := &staticBackend{states: []CheckState{{ID: "fw-ssh", Kind: LogRuleKind, Labels: checks.Labels{Device: "fw"}, Interval: time.Minute}}}
	users := newMemUsers()
	o := allPages(b, users)
	o.Logs, o.Backups, o.Clock, o.Log = lb, lb, fc, slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(New(o))
	defer srv.Close()
	c := client(t)
	setupAdmin(t, srv, c)

	code, body := get(t, c, srv.URL+"/logs?device=fw")
	if code != 200 || strings.Count(body, `data-testid="log-row"`) != 50 || !strings.Contains(body, "Failed password #59") || !strings.Contains(body, `data-testid="logs-older"`) {
		t.Fatalf("logs page: %d\n%s", code, body)
	}
	older := regexp.MustCompile(`href="(/logs\?[^"]+)" data-testid="logs-older"`).FindStringSubmatch(body)
	if older == nil {
		t.Fatalf("no older link:\n%s", body)
	}
	code, body = get(t, c, srv.URL+html.UnescapeString(older[1]))
	if code != 200 || strings.Count(body, `data-testid="log-row"`) != 10 || strings.Contains(body, `data-testid="logs-older"`) || !strings.Contains(body, `data-testid="logs-newest"`) {
		t.Fatalf("older page: %d\n%s", code, body)
	}
	if q := lb.asked[len(lb.asked)-1]; q.Device != "fw" || q.Before != now.Add(-49*time.Second).UnixMilli() || q.Skip != 1 {
		t.Fatalf("the older page asked %+v", q)
	}
	if code, body = get(t, c, srv.URL+"/logs?grep=("); code != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="logs-problem"`) {
		t.Fatalf("bad grep: %d\n%s", code, body)
	}
	if code, body = get(t, c, srv.URL+"/logs/rules"); code != 200 || !strings.Contains(body, `data-testid="log-rule-fw-ssh"`) || !strings.Contains(body, `href="/checks/new?id=ssh-brute-force&amp;kind=log_match&amp;options=rule%3A+ssh-brute-force"`) {
		t.Fatalf("rules page: %d\n%s", code, body)
	}
	if code, body = get(t, c, srv.URL+"/checks/new?id=ssh-brute-force&kind=log_match&options=rule%3A+ssh-brute-force"); code != 200 || !strings.Contains(body, `value="ssh-brute-force"`) || !strings.Contains(body, ">rule: ssh-brute-force</textarea>") {
		t.Fatalf("prefilled add form: %d\n%s", code, body)
	}
	code, body = get(t, c, srv.URL+"/backups")
	if code != 200 || !strings.Contains(body, `data-testid="backup-nightly"`) || !strings.Contains(body, "41s") || !strings.Contains(body, "&lt;b&gt;disk full&lt;/b&gt;") || !strings.Contains(body, "9000 bytes received, the last 16 kept") {
		t.Fatalf("backups page: %d\n%s", code, body)
	}
}
