package ui

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"outpost/ui/login"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/checks/clock"
)

// testClaimCode is the claim code of the handler tests' box.
const testClaimCode = "31415-92653"

// testClaim is a box's claim code in memory; the daemon's is a hash in
// the store and a root-only file (appliance/claim.go).
type testClaim struct {
	mu      sync.Mutex
	code    string
	claimed bool
}

func (c *testClaim) CheckClaimCode(code string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.claimed && code == c.code, nil
}

func (c *testClaim) Claimed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claimed = true
	return nil
}

func (c *testClaim) ClaimCodeHint() ClaimHint {
	return ClaimHint{Command: "outpost claim-code --data /var/lib/outpost", File: "/var/lib/outpost/claim-code"}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/incidents":                  "/incidents",
		"/checks?status=critical&q=a": "/checks?status=critical&q=a",
		"/devices/web%2001":           "/devices/web%2001",
		"":                            "/",
		"/\t/evil.example":            "/",
		"/\n/evil.example":            "/",
		"/\r/evil.example":            "/",
		"/\x00/evil.example":          "/",
		`/\evil.example`:              "/",
		"//evil.example":              "/",
		"///evil.example":             "/",
		"/%2F/evil.example":           "/",
		"https://evil.example/":       "/",
		"javascript:alert(1)":         "/",
		" /incidents":                 "/",
		"evil.example":                "/",
	} {
		if got := login.SafeNext(next); got != want {
			t.Errorf("login.SafeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// The limiter counts on the monotonic clock: stepping the wall clock
// neither lifts nor extends a block; time passing does.
func TestLimiterOnMonotonicClock(t *testing.T) {
	fc := clock.NewFake(time.Date(2003, 4, 5, 10, 0, 0, 0, time.UTC))
	l := newLoginLimiter(fc, 5, time.Minute)
	for i := 0; i < 5; i++ {
		if _, blocked, _ := l.Attempt(l.addr("10.0.0.9"), accountLimit("admin"), boxLimit); blocked != nil {
			t.Fatalf("attempt %d blocked", i)
		}
	}
	_, blocked, until := l.Attempt(l.addr("10.0.0.9"), accountLimit("admin"), boxLimit)
	if blocked == nil || blocked.what != "from 10.0.0.9" || until.Sub(fc.Now()) != time.Minute {
		t.Fatalf("sixth attempt: %+v until %s", blocked, until)
	}
	fc.Jump(24 * time.Hour)
	if _, blocked, _ := l.Attempt(l.addr("10.0.0.9")); blocked == nil {
		t.Fatal("a wall-clock step lifted the block")
	}
	fc.Advance(61 * time.Second)
	if _, blocked, _ := l.Attempt(l.addr("10.0.0.9")); blocked != nil {
		t.Fatal("still blocked after the window")
	}
	// A success is taken back: only failures count.
	for i := 0; i < 20; i++ {
		a, blocked, _ := l.Attempt(l.addr("10.0.0.10"))
		if blocked != nil {
			t.Fatalf("successful login %d blocked", i)
		}
		l.Forgive(a)
	}
}

func TestCookiesOverTLSAreHostPrefixed(t *testing.T) {
	o := allPages(&staticBackend{}, newMemUsers())
	o.Secure, o.Log = true, slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(o)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "https://box/setup", nil))
	login := httptest.NewRecorder()
	if err := s.startSession(login, User{Name: "a", Role: RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	cs := append(rec.Result().Cookies(), login.Result().Cookies()...)
	if len(cs) != 2 {
		t.Fatalf("cookies: %v", cs)
	}
	for _, c := range cs {
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" || c.MaxAge <= 0 || !c.Expires.IsZero() {
			t.Errorf("cookie over TLS: %+v", c)
		}
	}
}

// Once logged in, only the session's token passes, not a double-submit
// cookie (which another host can plant in the browser).
func TestPreLoginCSRFCookieNotAcceptedWithSession(t *testing.T) {
	srv, users, _ := testServer(t)
	c := client(t)
	tok := setupAdmin(t, srv, c)
	planted := "planted-token-value-0000000000000"
	u, _ := url.Parse(srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: csrfPreCookie, Value: planted, Path: "/"}})
	code, _ := post(t, c, srv.URL+"/settings/users", url.Values{"csrf": {planted}, "user": {"mallory"}, "role": {"admin"}, "password": {"Stolen-Closet-99"}})
	if _, ok, _ := users.GetUser("mallory"); ok || code != http.StatusForbidden {
		t.Fatalf("planted cookie token with a session: %d, user created %v", code, ok)
	}
	if code, _ := post(t, c, srv.URL+"/settings/users", url.Values{"csrf": {tok}, "user": {"vera"}, "role": {"viewer"}, "password": {"Viewer-Pass-123"}}); code != 200 {
		t.Fatalf("the session's token: %d", code)
	}
}

func TestSetupNeedsClaimCode(t *testing.T) {
	srv, users, _ := testServer(t)
	c := client(t)
	_, body := get(t, c, srv.URL+"/setup")
	if !strings.Contains(body, `data-testid="claim-hint"`) || !strings.Contains(body, "outpost claim-code") {
		t.Fatalf("setup page does not say where the claim code is:\n%s", body)
	}
	form := url.Values{"csrf": {token(t, body)}, "user": {"admin"}, "password": {"Correct-Horse-9"}, "confirm": {"Correct-Horse-9"}}
	for _, code := range []string{"", "00000-00000"} {
		form.Set("claim", code)
		if got, b := post(t, c, srv.URL+"/setup", form); got != http.StatusForbidden || !strings.Contains(b, "wrong or missing claim code") || strings.Contains(b, testClaimCode) {
			t.Fatalf("claim code %q: %d", code, got)
		}
	}
	if n, _ := users.CountUsers(); n != 0 {
		t.Fatal("a wrong claim code created the admin")
	}
	// A right code with a weak password: the code stays in the form.
	form.Set("claim", testClaimCode)
	form.Set("password", "short")
	if got, b := post(t, c, srv.URL+"/setup", form); got != http.StatusUnprocessableEntity || !strings.Contains(b, `value="`+testClaimCode+`"`) {
		t.Fatalf("weak password with the right code: %d", got)
	}
}
