package ui

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"outpost/checks/clock"
	"outpost/checks/incident"
)

func TestErrorCodeAndMessage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		code, msg string
	}{
		{"nil", nil, "", ""},
		{"not found", Errorf(ENOTFOUND, "no check %s", "db"), ENOTFOUND, "no check db"},
		{"wrapped", fmt.Errorf("acting on 7: %w", Errorf(ECONFLICT, "already acknowledged")), ECONFLICT, "already acknowledged"},
		{"form", &FormError{Problems: []string{"a: bad", "b: worse"}}, EINVALID, "a: bad; b: worse"},
		{"wrapped form", fmt.Errorf("saving: %w", &FormError{Problems: []string{"a: bad"}}), EINVALID, "a: bad"},
		{"plain", errors.New("bolt: read /var/lib/outpost/outpost.db: input/output error"), EINTERNAL, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if got := ErrorMessage(tc.err); got != tc.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.msg)
			}
		})
	}
}

// TestErrorPages serves each kind of error through the render path: the
// status comes from the one table, a user's error shows its message, an
// internal one shows only a reference that the log line also carries.
func TestErrorPages(t *testing.T) {
	var logged bytes.Buffer
	s := New(Options{Users: newMemUsers(), Log: slog.New(slog.NewTextHandler(&logged, nil))})
	var next error
	s.handle("GET", "/boom", RoleNone, func(w http.ResponseWriter, r *http.Request, sess *Session) error { return next })
	secret := "bolt: read /var/lib/outpost/outpost.db: input/output error"
	for _, tc := range []struct {
		err    error
		status int
		show   string
	}{
		{Errorf(EBADREQUEST, "unknown action %q", "x"), http.StatusBadRequest, "unknown action &#34;x&#34;"},
		{Errorf(EINVALID, "write the note first"), http.StatusUnprocessableEntity, "write the note first"},
		{&FormError{Problems: []string{"checks[0].interval: bad"}}, http.StatusUnprocessableEntity, "checks[0].interval: bad"},
		{Errorf(EUNAUTHORIZED, "wrong user name or password"), http.StatusUnauthorized, "wrong user name or password"},
		{Errorf(EFORBIDDEN, "this needs the admin role"), http.StatusForbidden, "this needs the admin role"},
		{Errorf(ENOTFOUND, "no incident 9"), http.StatusNotFound, "no incident 9"},
		{Errorf(ECONFLICT, "already acknowledged"), http.StatusConflict, "already acknowledged"},
		{Errorf(ETOOMANY, "too many failed logins"), http.StatusTooManyRequests, "too many failed logins"},
		{Errorf(EUPSTREAM, "webhook answered 503"), http.StatusBadGateway, "webhook answered 503"},
		{Errorf("no-such-code", "odd"), http.StatusInternalServerError, "odd"},
		{fmt.Errorf("loading incident 9: %w", errors.New(secret)), http.StatusInternalServerError, "internal error (reference "},
	} {
		next = tc.err
		logged.Reset()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
		body := rec.Body.String()
		if rec.Code != tc.status || !strings.Contains(body, tc.show) {
			t.Errorf("%v: %d, want %d showing %q\n%s", tc.err, rec.Code, tc.status, tc.show, body)
		}
		if ErrorCode(tc.err) != EINTERNAL {
			continue
		}
		if strings.Contains(body, "outpost.db") || strings.Contains(body, "input/output") {
			t.Errorf("internal error text leaked to the browser:\n%s", body)
		}
		ref := regexp.MustCompile(`reference ([0-9a-f]{8})`).FindStringSubmatch(body)
		if ref == nil || !strings.Contains(logged.String(), "ref="+ref[1]) || !strings.Contains(logged.String(), "input/output error") {
			t.Errorf("log lacks the reference and the cause:\nbody: %s\nlog: %s", body, logged.String())
		}
	}
}

// failingIncidents is an incidents backend whose store has failed.
type failingIncidents struct{ staticBackend }

func (b *failingIncidents) Act(id uint64, verb, user, note string) error {
	return fmt.Errorf("acknowledging %d: %w", id, errors.New("bolt: page 42 corrupt"))
}

// A server built with only the incidents backend serves only those
// pages; an internal error from an action shows a reference, not its text.
func TestOnlyConfiguredPagesAndInternalErrors(t *testing.T) {
	now := time.Date(2003, 4, 5, 10, 0, 0, 0, time.UTC)
	users := newMemUsers()
	users.PutUser(User{Name: "tech", Role: RoleTechnician})
	users.PutSession(Session{ID: "sess", User: "tech", Role: RoleTechnician, CSRF: "tok", Expires: now.Add(time.Hour)})
	b := &failingIncidents{staticBackend{incidents: []*incident.Incident{{ID: 7, Check: "db", State: "open", Opened: now}}}}
	var logged bytes.Buffer
	s := New(Options{Incidents: b, Users: users, Clock: clock.NewFake(now), Log: slog.New(slog.NewTextHandler(&logged, nil))})
	do := func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "sess"})
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("GET", "/incidents/7", nil); rec.Code != 200 {
		t.Fatalf("incident page: %d", rec.Code)
	}
	for _, path := range []string{"/", "/checks", "/devices", "/notifications", "/settings"} {
		if rec := do("GET", path, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s served without its backend: %d", path, rec.Code)
		}
	}
	if rec := do("GET", "/incidents/8", nil); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no incident 8") {
		t.Errorf("unknown incident: %d\n%s", rec.Code, rec.Body.String())
	}
	rec := do("POST", "/incidents/7/act", url.Values{"csrf": {"tok"}, "verb": {"ack"}})
	if body := rec.Body.String(); rec.Code != http.StatusInternalServerError || strings.Contains(body, "corrupt") || !strings.Contains(body, "internal error (reference ") {
		t.Errorf("internal error on ack: %d\n%s", rec.Code, body)
	}
	if !strings.Contains(logged.String(), "page 42 corrupt") {
		t.Errorf("cause not logged: %s", logged.String())
	}
}
