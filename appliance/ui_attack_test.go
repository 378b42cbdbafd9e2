package appliance_test

// Attacks from a host on the client's LAN against the real daemon's web
// UI (in-process, its real HTTPS listener): each test performs the attack
// and fails if it works.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/appliance"
)

const adminPassword = "Molar-Crown-2026"

// lockedBuffer collects the daemon's log for assertions.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// uiDaemon is a running daemon as the LAN sees it: its UI's base URL.
type uiDaemon struct {
	a    *appliance.Appliance
	base string
	data string
	log  *lockedBuffer
}

// startUIDaemon runs a daemon with a first-boot store, its log captured.
func startUIDaemon(t *testing.T) *uiDaemon {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(p, []byte("site: Attack lab\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	d := &uiDaemon{data: filepath.Join(dir, "data"), log: logs}
	a, err := appliance.New(appliance.Options{ConfigPath: p, DataDir: d.data, Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		a.Close()
	})
	d.a, d.base = a, a.UIURL()
	if !strings.HasPrefix(d.base, "https://") {
		t.Fatalf("UI not on HTTPS: %s", d.base)
	}
	return d
}

// lanClient is a browser on the LAN at source address ip ("" for the
// default): it keeps cookies and does not follow redirects.
func lanClient(t *testing.T, ip string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if ip != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return &http.Client{
		Jar:     jar,
		Timeout: patience,
		Transport: &http.Transport{
			DialContext:     dialer.DialContext,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the box's self-signed certificate
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type answer struct {
	code   int
	body   string
	header http.Header
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

func getUI(t *testing.T, c *http.Client, u string) answer {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return do(t, c, req)
}

func postUI(t *testing.T, c *http.Client, u string, form url.Values) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

var formToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := formToken.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf token in page:\n%s", body)
	}
	return m[1]
}

// claimCode is what the technician reads at the box ("" if the box wrote
// none).
func (d *uiDaemon) claimCode() string {
	b, _ := os.ReadFile(filepath.Join(d.data, "claim-code"))
	return strings.TrimSpace(string(b))
}

// claim creates the admin the way the technician does and returns the
// logged-in browser.
func (d *uiDaemon) claim(t *testing.T) *http.Client {
	t.Helper()
	c := lanClient(t, "")
	page := getUI(t, c, d.base+"/setup")
	got := postUI(t, c, d.base+"/setup", url.Values{"csrf": {csrfOf(t, page.body)}, "claim": {d.claimCode()}, "user": {"admin"}, "password": {adminPassword}, "confirm": {adminPassword}})
	if got.code != http.StatusSeeOther {
		t.Fatalf("claiming the box with its code: %d\n%s", got.code, got.body)
	}
	return c
}

// TestFirstBootNeedsClaimCode: a LAN visitor to an unclaimed box must not
// become its admin; only the code written at the box (a root-only file)
// creates the admin, and guessing it is counted by the login limiter.
func TestFirstBootNeedsClaimCode(t *testing.T) {
	d := startUIDaemon(t)
	attacker := lanClient(t, "127.0.0.66")
	page := getUI(t, attacker, d.base+"/setup")
	tok := csrfOf(t, page.body)
	got := postUI(t, attacker, d.base+"/setup", url.Values{"csrf": {tok}, "user": {"mallory"}, "password": {"Stolen-Closet-99"}, "confirm": {"Stolen-Closet-99"}})
	if n, _ := d.a.Store().CountUsers(); n != 0 || got.code == http.StatusSeeOther {
		t.Fatalf("a LAN visitor without the claim code became admin: %d, %d users", got.code, n)
	}
	if got.code != http.StatusForbidden {
		t.Fatalf("setup without a claim code: %d, want 403", got.code)
	}
	if !strings.Contains(page.body, filepath.Join(d.data, "claim-code")) || !strings.Contains(page.body, "outpost claim-code") {
		t.Fatalf("the first-boot page does not say where the claim code is:\n%s", page.body)
	}

	// The code: a root-only file in the data dir, never in the log or the store.
	file := filepath.Join(d.data, "claim-code")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no claim code file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("claim code file mode %v, want 0600", fi.Mode().Perm())
	}
	code := d.claimCode()
	if !regexp.MustCompile(`^\d{5}-\d{5}$`).MatchString(code) {
		t.Fatalf("claim code %q is not 10 digits", code)
	}
	digits := strings.ReplaceAll(code, "-", "")
	logs := d.log.String()
	if strings.Contains(logs, digits) || strings.Contains(logs, code) || !strings.Contains(logs, file) {
		t.Fatalf("the log must name the file, not the code:\n%s", logs)
	}
	if db, _ := os.ReadFile(filepath.Join(d.data, "outpost.db")); bytes.Contains(db, []byte(digits)) || bytes.Contains(db, []byte(code)) {
		t.Fatal("the store holds the claim code in clear")
	}

	// Guessing: wrong codes are refused and counted; the sixth attempt
	// from the same address is refused even with the right code.
	for i, guess := range []string{"00000-00000", "1234567890", "12345-67891", code + "0"} {
		got := postUI(t, attacker, d.base+"/setup", url.Values{"csrf": {tok}, "claim": {guess}, "user": {"mallory"}, "password": {"Stolen-Closet-99"}, "confirm": {"Stolen-Closet-99"}})
		if got.code != http.StatusForbidden || !strings.Contains(got.body, "claim code") {
			t.Fatalf("guess %d %q: %d\n%s", i, guess, got.code, got.body)
		}
	}
	got = postUI(t, attacker, d.base+"/setup", url.Values{"csrf": {tok}, "claim": {code}, "user": {"mallory"}, "password": {"Stolen-Closet-99"}, "confirm": {"Stolen-Closet-99"}})
	if got.code != http.StatusTooManyRequests || got.header.Get("Retry-After") == "" {
		t.Fatalf("sixth claim attempt from one address: %d, want 429 with Retry-After", got.code)
	}
	if n, _ := d.a.Store().CountUsers(); n != 0 {
		t.Fatal("a blocked attempt created a user")
	}

	// The technician, with the code from the file, claims the box; the
	// file is removed and the code no longer opens anything.
	d.claim(t)
	if u, ok, _ := d.a.Store().GetUser("admin"); !ok || u.Role != "admin" {
		t.Fatalf("admin not created: %+v", u)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("claim code file still there after the box was claimed: %v", err)
	}
	other := lanClient(t, "127.0.0.67")
	page = getUI(t, other, d.base+"/login")
	got = postUI(t, other, d.base+"/setup", url.Values{"csrf": {csrfOf(t, page.body)}, "claim": {code}, "user": {"second"}, "password": {"Stolen-Closet-99"}, "confirm": {"Stolen-Closet-99"}})
	if got.code == http.StatusSeeOther {
		t.Fatal("the spent claim code created a second admin")
	}
	if n, _ := d.a.Store().CountUsers(); n != 1 {
		t.Fatalf("%d users after the claim", n)
	}
}

// TestPlantedCSRFCookieRefusedWhenLoggedIn: a cookie planted in the
// admin's browser (from a sibling host or a plain-HTTP page) with the same
// value in a cross-site form must not pass as the logged-in admin's CSRF
// token. Cookies over TLS carry the __Host- prefix and relative lifetimes.
func TestPlantedCSRFCookieRefusedWhenLoggedIn(t *testing.T) {
	d := startUIDaemon(t)

	// Cookie attributes, from the raw Set-Cookie lines.
	c := lanClient(t, "")
	page := getUI(t, c, d.base+"/setup")
	setup := postUI(t, c, d.base+"/setup", url.Values{"csrf": {csrfOf(t, page.body)}, "claim": {d.claimCode()}, "user": {"admin"}, "password": {adminPassword}, "confirm": {adminPassword}})
	if setup.code != http.StatusSeeOther {
		t.Fatalf("claim: %d\n%s", setup.code, setup.body)
	}
	lines := append(page.header.Values("Set-Cookie"), setup.header.Values("Set-Cookie")...)
	if len(lines) < 2 {
		t.Fatalf("want the form cookie and the session cookie, got %q", lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "__Host-") || !strings.Contains(l, "Max-Age=") || strings.Contains(l, "Expires=") ||
			!strings.Contains(l, "; Secure") || !strings.Contains(l, "; HttpOnly") || !strings.Contains(l, "; Path=/") || strings.Contains(l, "Domain=") {
			t.Errorf("cookie over TLS: %q (want __Host- name, Secure, HttpOnly, Path=/, Max-Age, no Expires, no Domain)", l)
		}
	}

	// The attack: the admin's browser holds a planted form cookie; a page
	// elsewhere posts a form with the same value.
	u, _ := url.Parse(d.base)
	var session *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if strings.Contains(ck.Name, "session") {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie after claiming")
	}
	planted := "planted-by-the-attacker-000000000000"
	form := url.Values{"csrf": {planted}, "user": {"mallory"}, "role": {"admin"}, "password": {"Stolen-Closet-99"}}
	req, _ := http.NewRequest("POST", d.base+"/settings/users", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", fmt.Sprintf("%s=%s; outpost_csrf=%s; __Host-outpost_csrf=%s", session.Name, session.Value, planted, planted))
	got := do(t, lanClient(t, ""), req)
	if _, ok, _ := d.a.Store().GetUser("mallory"); ok || got.code != http.StatusForbidden {
		t.Fatalf("a planted form cookie passed as the admin's CSRF token: %d, mallory created %v", got.code, ok)
	}

	// Still fine: a logged-in browser's own forms, the login form included.
	page = getUI(t, c, d.base+"/login")
	if got := postUI(t, c, d.base+"/login", url.Values{"csrf": {csrfOf(t, page.body)}, "user": {"admin"}, "password": {adminPassword}}); got.code != http.StatusSeeOther {
		t.Fatalf("logging in again from a logged-in browser: %d\n%s", got.code, got.body)
	}
	page = getUI(t, c, d.base+"/settings")
	if got := postUI(t, c, d.base+"/settings/users", url.Values{"csrf": {csrfOf(t, page.body)}, "user": {"vera"}, "role": {"viewer"}, "password": {"Viewer-Pass-123"}}); got.code >= 400 {
		t.Fatalf("adding a user with the session's token: %d", got.code)
	}
	if _, ok, _ := d.a.Store().GetUser("vera"); !ok {
		t.Fatal("adding a user with the session's token did not add it")
	}
}

// browserResolve reads a Location header as a browser does: it drops
// tabs and newlines, strips leading and trailing spaces and controls, and
// takes a backslash for a slash.
func browserResolve(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(u), nil
}

// TestLoginRedirectStaysLocal: next= after login must not send the
// browser to another site, however the path is spelled.
func TestLoginRedirectStaysLocal(t *testing.T) {
	d := startUIDaemon(t)
	d.claim(t)
	base, _ := url.Parse(d.base)
	for _, next := range []string{"/\t/evil.example", "/\t\t/evil.example/x", "/\n/evil.example", "/\r/evil.example", `/\evil.example`, "//evil.example", "///evil.example",
		"https://evil.example/", "\t//evil.example", " //evil.example", "/%2F/evil.example", "/%5Cevil.example", "javascript:alert(1)"} {
		c := lanClient(t, "")
		page := getUI(t, c, d.base+"/login?next="+url.QueryEscape(next))
		if m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page.body); m == nil {
			t.Fatalf("no next field on the login page:\n%s", page.body)
		} else if to, err := browserResolve(base, m[1]); err != nil || to.Host != base.Host {
			t.Errorf("next=%q: the login form carries %q, leading to %v", next, m[1], to)
		}
		// The transport itself: Go's client refuses to parse some of the
		// Locations a browser would follow.
		req, _ := http.NewRequest("POST", d.base+"/login", strings.NewReader(url.Values{"csrf": {csrfOf(t, page.body)}, "user": {"admin"}, "password": {adminPassword}, "next": {next}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range c.Jar.Cookies(base) {
			req.AddCookie(ck)
		}
		resp, err := c.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := answer{code: resp.StatusCode, header: resp.Header}
		if got.code != http.StatusSeeOther {
			t.Fatalf("login with next=%q: %d", next, got.code)
		}
		loc := got.header.Get("Location")
		if to, err := browserResolve(base, loc); err != nil || to.Host != base.Host || to.Scheme != base.Scheme {
			t.Errorf("next=%q: redirected to %q, which a browser reads as %v", next, loc, to)
		}
	}
	c := lanClient(t, "")
	page := getUI(t, c, d.base+"/login")
	got := postUI(t, c, d.base+"/login", url.Values{"csrf": {csrfOf(t, page.body)}, "user": {"admin"}, "password": {adminPassword}, "next": {"/checks?status=critical&q=web01"}})
	if loc := got.header.Get("Location"); loc != "/checks?status=critical&q=web01" {
		t.Fatalf("a local next= is not kept: %q", loc)
	}
}

// wrongLogin tries a wrong password for user from source address ip.
func wrongLogin(t *testing.T, d *uiDaemon, ip, user string) (int, time.Duration) {
	t.Helper()
	c := lanClient(t, ip)
	page := getUI(t, c, d.base+"/login")
	start := time.Now()
	got := postUI(t, c, d.base+"/login", url.Values{"csrf": {csrfOf(t, page.body)}, "user": {user}, "password": {"Guessed-Wrong-1"}})
	return got.code, time.Since(start)
}

// TestLoginLimits: the failed-login limit holds against parallel
// attempts, against changing the source address (per account and for the
// whole box), and unknown user names take as long as known ones.
func TestLoginLimits(t *testing.T) {
	t.Run("parallel", func(t *testing.T) {
		d := startUIDaemon(t)
		d.claim(t)
		c := lanClient(t, "127.0.0.5")
		tok := csrfOf(t, getUI(t, c, d.base+"/login").body)
		var wg sync.WaitGroup
		codes := make([]int, 20)
		for i := range codes {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", d.base+"/login", strings.NewReader(url.Values{"csrf": {tok}, "user": {"admin"}, "password": {fmt.Sprintf("Guess-number-%d", i)}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes[i] = resp.StatusCode
			})
		}
		wg.Wait()
		tried := 0
		for _, code := range codes {
			if code != http.StatusTooManyRequests {
				tried++
			}
		}
		if tried > 5 {
			t.Fatalf("%d of 20 parallel guesses from one address were checked, limit 5: %v", tried, codes)
		}
	})
	t.Run("per account across addresses", func(t *testing.T) {
		d := startUIDaemon(t)
		d.claim(t)
		for i := 1; i <= 10; i++ {
			if code, _ := wrongLogin(t, d, fmt.Sprintf("127.0.2.%d", i), "admin"); code != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, code)
			}
		}
		if code, _ := wrongLogin(t, d, "127.0.2.11", "admin"); code != http.StatusTooManyRequests {
			t.Fatalf("the 11th guess at admin, from an 11th address: %d, want 429", code)
		}
	})
	t.Run("whole box across addresses and names", func(t *testing.T) {
		d := startUIDaemon(t)
		d.claim(t)
		for i := 1; i <= 30; i++ {
			if code, _ := wrongLogin(t, d, fmt.Sprintf("127.0.3.%d", i), fmt.Sprintf("user%d", i)); code != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, code)
			}
		}
		if code, _ := wrongLogin(t, d, "127.0.3.31", "user31"); code != http.StatusTooManyRequests {
			t.Fatalf("the 31st guess within a minute on the box: %d, want 429", code)
		}
	})
	t.Run("unknown user as slow as known", func(t *testing.T) {
		d := startUIDaemon(t)
		d.claim(t)
		var known, unknown []time.Duration
		for i := 1; i <= 4; i++ {
			code, dt := wrongLogin(t, d, fmt.Sprintf("127.0.4.%d", i), "admin")
			if code != http.StatusUnauthorized {
				t.Fatalf("known user: %d", code)
			}
			known = append(known, dt)
			code, dt = wrongLogin(t, d, fmt.Sprintf("127.0.5.%d", i), fmt.Sprintf("nobody%d", i))
			if code != http.StatusUnauthorized {
				t.Fatalf("unknown user: %d", code)
			}
			unknown = append(unknown, dt)
		}
		sort.Slice(known, func(i, j int) bool { return known[i] < known[j] })
		sort.Slice(unknown, func(i, j int) bool { return unknown[i] < unknown[j] })
		if unknown[0]*3 < known[0] {
			t.Fatalf("an unknown user name answers much faster (fastest %s) than a wrong password (fastest %s): user names can be told apart", unknown[0], known[0])
		}
	})
}

// TestPlainHTTPOverrideMustBeLoopback: --ui-listen must not put a
// plain-HTTP UI on the network when the config allows it on loopback.
func TestPlainHTTPOverrideMustBeLoopback(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.yaml")
	os.WriteFile(p, []byte("site: Plain\nui: {plain_http: true, listen: '127.0.0.1:8480'}\n"), 0o644)
	for i, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		a, err := appliance.New(appliance.Options{ConfigPath: p, DataDir: filepath.Join(dir, fmt.Sprint("data", i)), Listen: "127.0.0.1:0", UIListen: addr,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		err = a.Listen()
		url := a.UIURL()
		a.Close()
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("--ui-listen %s with ui.plain_http: listening at %q, err %v; want refused", addr, url, err)
		}
	}
	a, err := appliance.New(appliance.Options{ConfigPath: p, DataDir: filepath.Join(dir, "ok"), Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Listen(); err != nil || !strings.HasPrefix(a.UIURL(), "http://127.0.0.1:") {
		t.Fatalf("plain HTTP on loopback: %q, %v", a.UIURL(), err)
	}
}

// TestUIServerBoundsSlowAndLargeRequests: a LAN host cannot hold a UI
// connection open by trickling a body, nor make the box read a huge header.
func TestUIServerBoundsSlowAndLargeRequests(t *testing.T) {
	t.Parallel()
	d := startUIDaemon(t)
	req, _ := http.NewRequest("GET", d.base+"/login", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 256<<10))
	if got := do(t, lanClient(t, ""), req); got.code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 256 KiB header: %d, want 431", got.code)
	}

	host := strings.TrimPrefix(d.base, "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n", host)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	const ceiling = 50 * time.Second
	start := time.Now()
	conn.SetReadDeadline(start.Add(ceiling))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a body trickled at a byte a second held the connection for %s", ceiling)
	}
	t.Logf("the box closed the trickling connection after %s", time.Since(start).Round(time.Second))
}

// TestAckPageHasSecurityHeaders: the acknowledge-link page is served to
// anyone with a link; it gets the UI's security headers.
func TestAckPageHasSecurityHeaders(t *testing.T) {
	d := startUIDaemon(t)
	got := getUI(t, lanClient(t, ""), d.base+"/ack/not-a-token")
	if got.code != http.StatusForbidden {
		t.Fatalf("bad ack token: %d", got.code)
	}
	for h, want := range map[string]string{
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "frame-ancestors 'none'",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
	} {
		if v := got.header.Get(h); !strings.Contains(v, want) {
			t.Errorf("/ack/ %s: %q, want %q", h, v, want)
		}
	}
	if csp := got.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("/ack/ CSP %q", csp)
	}
}

// TestReportsNeedLoginAndRefuseOddMonths: a LAN visitor without a login
// gets no report (the page and the PDF and JSON downloads send it to the
// login), and a logged-in user's odd months (malformed, traversal, out
// of range, before the box) are not found, without building anything.
func TestReportsNeedLoginAndRefuseOddMonths(t *testing.T) {
	d := startUIDaemon(t)
	admin := d.claim(t)
	month := time.Now().Format("2006-01")
	attacker := lanClient(t, "127.0.0.66")
	for _, p := range []string{"/reports", "/reports/" + month, "/reports/" + month + "/report.pdf", "/reports/" + month + "/report.json"} {
		if got := getUI(t, attacker, d.base+p); got.code != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), "/login") {
			t.Errorf("%s without a login: %d %s", p, got.code, got.header.Get("Location"))
		}
	}
	if got := getUI(t, admin, d.base+"/reports/"+month+"/report.pdf"); got.code != http.StatusOK || !strings.HasPrefix(got.body, "%PDF-") || got.header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("this month's PDF: %d %q", got.code, got.header)
	}
	for _, p := range []string{"/reports/2026-13", "/reports/..%2F..%2Fetc%2Fpasswd", "/reports/99999-01/report.pdf", "/reports/1999-01/report.json", "/reports/2999-01", "/reports/" + month + "/report.exe"} {
		got := getUI(t, admin, d.base+p)
		if got.code != http.StatusNotFound || strings.HasPrefix(got.body, "%PDF") || strings.Contains(got.body, `"period"`) {
			t.Errorf("%s: %d, want 404 and no report\n%.300s", p, got.code, got.body)
		}
	}
}
