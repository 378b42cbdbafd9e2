package ui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/incident"
)

// memUsers keeps accounts in memory for handler tests; the daemon's real
// implementation is bbolt-backed and tested in the appliance package.
type memUsers struct {
	mu       sync.Mutex
	users    map[string]User
	sessions map[string]Session
}

func newMemUsers() *memUsers {
	return &memUsers{users: map[string]User{}, sessions: map[string]Session{}}
}
func (m *memUsers) CountUsers() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.users), nil
}
func (m *memUsers) CreateFirstAdmin(u User) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.users) > 0 {
		return false, nil
	}
	m.users[u.Name] = u
	return true, nil
}
func (m *memUsers) PutUser(u User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[u.Name] = u
	return nil
}
func (m *memUsers) GetUser(n string) (User, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[n]
	return u, ok, nil
}
func (m *memUsers) ListUsers() ([]User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []User
	for _, u := range m.users {
		out = append(out, u)
	}
	return out, nil
}
func (m *memUsers) DeleteUser(n string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users, n)
	return nil
}
func (m *memUsers) PutSession(s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[s.ID] = s
	return nil
}
func (m *memUsers) GetSession(id string) (Session, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	return s, ok, nil
}
func (m *memUsers) DeleteSession(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}
func (m *memUsers) DeleteUserSessions(u string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.sessions {
		if s.User == u {
			delete(m.sessions, id)
		}
	}
	return nil
}

// fullBackend is every page's backend, as the daemon's adapter is.
type fullBackend interface {
	SiteBackend
	DashboardBackend
	ChecksBackend
	CheckEditBackend
	DevicesBackend
	IncidentsBackend
	NotifyBackend
	SectionsBackend
	SettingsBackend
}

// allPages is the options serving every page from b, as the daemon does.
func allPages(b fullBackend, users Users) Options {
	return Options{Site: b, Dashboard: b, Checks: b, CheckEdit: b, Devices: b, Incidents: b, Notify: b, Sections: b, Settings: b, Users: users, Claim: &testClaim{code: testClaimCode}}
}

// staticBackend serves fixed check states (the real one is the daemon).
type staticBackend struct {
	states    []CheckState
	runs      int
	incidents []*incident.Incident
	agents    map[string][]AgentView
	devices   map[string]DeviceInfo
	glances   []Glance
	phone     PhoneHomeView
}

func (b *staticBackend) SiteName() string          { return "Acme Dental" }
func (b *staticBackend) CheckStates() []CheckState { return b.states }
func (b *staticBackend) About() About              { return About{Version: "v1", CertFingerprint: "AB:CD"} }
func (b *staticBackend) History(id string, from, to time.Time) ([]checks.Result, error) {
	return []checks.Result{{Time: to.Add(-time.Minute), Status: checks.OK, Latency: 3 * time.Millisecond, Detail: "fine"}}, nil
}
func (b *staticBackend) Changes(id string, from, to time.Time) ([]Change, error) { return nil, nil }
func (b *staticBackend) Rollups(id string, step time.Duration, from, to time.Time) ([]Point, error) {
	return nil, nil
}
func (b *staticBackend) Incidents(open bool, limit int) ([]incident.Incident, error) {
	var out []incident.Incident
	for _, inc := range b.incidents {
		if !open || inc.State != "resolved" {
			out = append(out, *inc)
		}
	}
	return out, nil
}
func (b *staticBackend) Incident(id uint64) (incident.Incident, error) {
	for _, inc := range b.incidents {
		if inc.ID == id {
			return *inc, nil
		}
	}
	return incident.Incident{}, Errorf(ENOTFOUND, "no incident %d", id)
}
func (b *staticBackend) Act(id uint64, verb, user, note string) error {
	for _, inc := range b.incidents {
		if inc.ID == id {
			if verb == "ack" {
				if inc.State != "open" {
					return Errorf(ECONFLICT, "already acknowledged")
				}
				inc.State, inc.AckedBy = "acknowledged", user
			}
			inc.Timeline = append(inc.Timeline, incident.Event{Kind: incident.EventKind(verb), By: user, Text: note})
			return nil
		}
	}
	return Errorf(ENOTFOUND, "no incident %d", id)
}
func (b *staticBackend) Remediations(check string) []string {
	return []string{"restart unit db.service"}
}
func (b *staticBackend) Heal(ctx context.Context, check string, i int, user string) (string, error) {
	return "restart unit db.service: ok", nil
}
func (b *staticBackend) Notifications() NotifyView {
	return NotifyView{Channels: []ChannelView{{Name: "oncall", Kind: "webhook", To: "hooks.example.net"}}, Policies: []PolicyView{{Name: "all", Matches: "any incident", Steps: []string{"at once: oncall"}}}}
}
func (b *staticBackend) SendTest(ctx context.Context, ch string) (string, error) {
	switch ch {
	case "oncall":
	case "ghost":
		return "", Errorf(EUPSTREAM, "%s did not answer", ch)
	default:
		return "", Errorf(ENOTFOUND, "no channel %q", ch)
	}
	return "200 OK", nil
}
func (b *staticBackend) Section(name string) (string, bool) {
	if name != "notify" {
		return "", false
	}
	return "channels: []\n", true
}
func (b *staticBackend) Agents(device string) []AgentView { return b.agents[device] }
func (b *staticBackend) Device(ctx context.Context, name string) (DeviceInfo, bool) {
	d, ok := b.devices[name]
	return d, ok
}
func (b *staticBackend) Glances(ctx context.Context, device string) []Glance {
	var out []Glance
	for _, g := range b.glances {
		if device == "" || g.Device == device {
			out = append(out, g)
		}
	}
	return out
}
func (b *staticBackend) PhoneHome() PhoneHomeView { return b.phone }

func (b *staticBackend) SaveSection(name, text, user string) error {
	if text == "bad" {
		return &FormError{Problems: []string{"notify: expected a mapping, got \"bad\""}}
	}
	return nil
}
func (b *staticBackend) Kinds() []string { return []string{"http", "tcp"} }
func (b *staticBackend) CheckForm(id string) (CheckForm, bool) {
	for _, c := range b.states {
		if c.ID == id {
			return CheckForm{ID: c.ID, Kind: c.Kind, Target: c.Target}, true
		}
	}
	return CheckForm{}, false
}
func (b *staticBackend) SaveCheck(orig string, f CheckForm, user string) error {
	if f.Interval == "5x" {
		return &FormError{Problems: []string{`checks[2].interval: "5x" is not a duration (e.g. 30s, 5m, 2h, 7d)`}}
	}
	b.states = append(b.states, CheckState{ID: f.ID, Kind: f.Kind, Target: f.Target})
	return nil
}
func (b *staticBackend) DeleteCheck(id, user string) error { return nil }
func (b *staticBackend) ConfigYAML() []byte                { return []byte("site: Acme Dental\n") }
func (b *staticBackend) RunNow(ctx context.Context, id string) (checks.Result, error) {
	b.runs++
	return checks.Result{Status: checks.OK}, nil
}

// testServer's fake clock is far from any real date on purpose: nothing the
// browser (here the cookie jar) judges by its own clock may depend on it.
func testServer(t *testing.T) (*httptest.Server, *memUsers, *clock.Fake) {
	return testServerAt(t, time.Date(2003, 4, 5, 10, 0, 0, 0, time.UTC))
}

func testServerAt(t *testing.T, now time.Time) (*httptest.Server, *memUsers, *clock.Fake) {
	fc := clock.NewFake(now)
	crit := checks.Result{Time: now, Status: checks.Critical, Detail: "connection refused"}
	ok := checks.Result{Time: now, Status: checks.OK, Detail: "200 OK"}
	b := &staticBackend{states: []CheckState{
		{ID: "web", Kind: "http", Target: "http://127.0.0.1/", Labels: checks.Labels{Device: "web01"}, Latest: &ok, Interval: time.Minute},
		{ID: "db", Kind: "tcp", Target: "127.0.0.1:5432", Labels: checks.Labels{Device: "db01"}, Latest: &crit, Since: now.Add(-90 * time.Minute), Interval: time.Minute},
	}, incidents: []*incident.Incident{{ID: 7, Check: "db", Device: "db01", Severity: "critical", State: "open", Status: checks.Critical, Summary: "connection refused", Opened: now.Add(-88 * time.Minute), Timeline: []incident.Event{{Time: now.Add(-88 * time.Minute), Kind: "detected", Text: "db critical after 2 failed runs"}}}},
		agents: map[string][]AgentView{"db01": {{Name: "db01", Paired: true, Hostname: "DB01", OS: "windows", Address: "127.0.0.1:7443", PairedAt: now.Add(-48 * time.Hour), LastSeen: now,
			Inventory: &InventoryView{Collected: now.Add(-time.Hour), OS: "Windows Server 2022 Standard 10.0.20348 (build 20348)", CPU: "Xeon E-2314", Cores: 4, RAMBytes: 32 << 30, Serial: "CZ2049XYZ",
				Apps: []InventoryApp{{Name: "Microsoft SQL Server 2019", Version: "15.0.2000.5"}}, Patches: 12, PendingPatches: 1, Problems: []string{"serial: access denied"}}}}}}
	users := newMemUsers()
	o := allPages(b, users)
	o.Clock, o.Log = fc, slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	return srv, users, fc
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func token(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf token in page:\n%s", body)
	}
	return m[1]
}

func setupAdmin(t *testing.T, srv *httptest.Server, c *http.Client) string {
	t.Helper()
	code, body := get(t, c, srv.URL+"/")
	if code != 200 || !strings.Contains(body, "Create admin account") {
		t.Fatalf("first visit should land on setup: %d\n%s", code, body)
	}
	code, body = post(t, c, srv.URL+"/setup", url.Values{"csrf": {token(t, body)}, "claim": {testClaimCode}, "user": {"admin"}, "password": {"Correct-Horse-9"}, "confirm": {"Correct-Horse-9"}})
	if code != 200 || !strings.Contains(body, "Site health") {
		t.Fatalf("after setup: %d\n%s", code, body)
	}
	return token(t, body)
}

func TestFirstBootForcesAdminAndRejectsWeakPasswords(t *testing.T) {
	srv, users, _ := testServer(t)
	c := client(t)
	_, body := get(t, c, srv.URL+"/setup")
	for _, tc := range []struct{ pw, want string }{
		{"short", "at least 12 characters"},
		{"alllowercaseletters", "at least three of"},
		{"Admin-Password-1", "must not contain the user name"},
	} {
		code, b := post(t, c, srv.URL+"/setup", url.Values{"csrf": {token(t, body)}, "claim": {testClaimCode}, "user": {"admin"}, "password": {tc.pw}, "confirm": {tc.pw}})
		if code != http.StatusUnprocessableEntity || !strings.Contains(b, tc.want) {
			t.Fatalf("password %q: %d, want message %q", tc.pw, code, tc.want)
		}
	}
	if n, _ := users.CountUsers(); n != 0 {
		t.Fatal("weak password created a user")
	}
	setupAdmin(t, srv, c)
	// Setup is closed once an admin exists.
	other := client(t)
	_, body = get(t, other, srv.URL+"/login")
	code, b := post(t, other, srv.URL+"/setup", url.Values{"csrf": {token(t, body)}, "claim": {testClaimCode}, "user": {"evil"}, "password": {"Correct-Horse-9"}, "confirm": {"Correct-Horse-9"}})
	if code != http.StatusConflict || !strings.Contains(b, "already exists") {
		t.Fatalf("second setup: %d", code)
	}
}

// A box without a real-time clock boots in 1970 or somewhere in the past,
// and a wrong NTP server can put it in the future: logging in must work
// whatever the box's clock says, and sessions still end on its clock.
func TestLoginWithBoxClockFarFromToday(t *testing.T) {
	for _, at := range []time.Time{
		time.Unix(60, 0).UTC(),
		time.Now().AddDate(-3, 0, 0),
		time.Now().AddDate(7, 0, 0),
		time.Date(2091, 6, 1, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(at.Format("2006-01-02"), func(t *testing.T) {
			srv, _, fc := testServerAt(t, at)
			c := client(t)
			setupAdmin(t, srv, c)
			if code, body := get(t, c, srv.URL+"/checks"); code != 200 || strings.Contains(body, "Log in") {
				t.Fatalf("logged-in page with the box clock at %s: %d\n%s", at, code, body)
			}
			_, body := get(t, c, srv.URL+"/login")
			if code, b := post(t, c, srv.URL+"/login", url.Values{"csrf": {token(t, body)}, "user": {"admin"}, "password": {"Correct-Horse-9"}, "next": {"/incidents"}}); code != 200 || !strings.Contains(b, "Incidents") {
				t.Fatalf("login: %d\n%s", code, b)
			}
			u, _ := url.Parse(srv.URL)
			for _, ck := range c.Jar.Cookies(u) {
				if ck.Name == sessionCookie && ck.Value == "" {
					t.Fatal("session cookie dropped by the jar")
				}
			}
			// The server's own expiry still holds on its clock.
			fc.Advance(sessionTTL + time.Minute)
			if _, body := get(t, c, srv.URL+"/checks"); !strings.Contains(body, "Log in") {
				t.Fatalf("session outlived its %s on the box's clock:\n%s", sessionTTL, body)
			}
		})
	}
}

func TestLoginRateLimitAndSessionRotation(t *testing.T) {
	srv, users, fc := testServer(t)
	setupAdmin(t, srv, client(t))
	c := client(t)
	_, body := get(t, c, srv.URL+"/login")
	tok := token(t, body)
	for i := 0; i < 5; i++ {
		code, _ := post(t, c, srv.URL+"/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"wrong"}})
		if code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	code, b := post(t, c, srv.URL+"/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"Correct-Horse-9"}})
	if code != http.StatusTooManyRequests || !strings.Contains(b, "too many failed logins") {
		t.Fatalf("sixth attempt within a minute: %d", code)
	}
	fc.Advance(61 * time.Second)
	code, _ = post(t, c, srv.URL+"/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"Correct-Horse-9"}})
	if code != 200 {
		t.Fatalf("login after the window: %d", code)
	}
	u, _ := url.Parse(srv.URL)
	var first string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			first = ck.Value
		}
	}
	_, body = get(t, c, srv.URL+"/login")
	if code, b := post(t, c, srv.URL+"/login", url.Values{"csrf": {token(t, body)}, "user": {"admin"}, "password": {"Correct-Horse-9"}}); code != 200 {
		t.Fatalf("second login: %d\n%s", code, b)
	}
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie && ck.Value == first {
			t.Fatal("session id not renewed at login")
		}
	}
	if _, ok, _ := users.GetSession(first); ok {
		t.Fatal("old session still valid after a new login")
	}
}

func TestCookieFlags(t *testing.T) {
	users := newMemUsers()
	o := allPages(&staticBackend{}, users)
	o.Secure, o.Log = true, slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(o)
	rec := httptest.NewRecorder()
	if err := s.startSession(rec, User{Name: "a", Role: RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	c := rec.Result().Cookies()[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie flags: %+v", c)
	}
}

// TestEveryPostRefusesMissingCSRF enumerates the routes and proves each
// state-changing one refuses a request without a valid token, logged in.
func TestEveryPostRefusesMissingCSRF(t *testing.T) {
	srv, _, _ := testServer(t)
	c := client(t)
	setupAdmin(t, srv, c)
	s := New(allPages(&staticBackend{}, newMemUsers()))
	n := 0
	for _, r := range s.Routes() {
		if r.Method != http.MethodPost {
			continue
		}
		n++
		path := strings.NewReplacer("{id}", "web", "{name}", "someone", "{$}", "").Replace(r.Pattern)
		for _, form := range []url.Values{{}, {"csrf": {"forged-token-value-000000000000"}}} {
			code, body := post(t, c, srv.URL+path, form)
			if code != http.StatusForbidden || !strings.Contains(body, "security token") {
				t.Errorf("POST %s with %v: %d, want 403", path, form, code)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d POST routes found", n)
	}
}

func TestRolesAndPages(t *testing.T) {
	srv, users, _ := testServer(t)
	admin := client(t)
	tok := setupAdmin(t, srv, admin)
	code, _ := post(t, admin, srv.URL+"/settings/users", url.Values{"csrf": {tok}, "user": {"vera"}, "role": {"viewer"}, "password": {"Viewer-Pass-123"}})
	if code != 200 {
		t.Fatalf("add viewer: %d", code)
	}
	if u, ok, _ := users.GetUser("vera"); !ok || u.Role != RoleViewer {
		t.Fatal("viewer not stored")
	}
	v := client(t)
	_, body := get(t, v, srv.URL+"/login")
	code, body = post(t, v, srv.URL+"/login", url.Values{"csrf": {token(t, body)}, "user": {"vera"}, "password": {"Viewer-Pass-123"}})
	if code != 200 {
		t.Fatalf("viewer login: %d", code)
	}
	// Dashboard: the failing check first, with its age.
	if !strings.Contains(body, `data-testid="failing-db"`) || !strings.Contains(body, "1h 30m") || strings.Contains(body, `data-testid="failing-web"`) {
		t.Fatalf("dashboard:\n%s", body)
	}
	code, body = get(t, v, srv.URL+"/checks/db")
	if code != 200 || strings.Contains(body, "Run now") {
		t.Fatalf("viewer check page: %d (viewers get no run button)", code)
	}
	code, _ = post(t, v, srv.URL+"/checks/db/run", url.Values{"csrf": {token(t, body)}})
	if code != http.StatusForbidden {
		t.Fatalf("viewer run now: %d, want 403", code)
	}
	code, body = get(t, v, srv.URL+"/checks?status=critical")
	if code != 200 || !strings.Contains(body, `data-testid="check-db"`) || strings.Contains(body, `data-testid="check-web"`) {
		t.Fatalf("filter: %d", code)
	}
	code, body = get(t, v, srv.URL+"/checks?q=web01")
	if !strings.Contains(body, `data-testid="check-web"`) || strings.Contains(body, `data-testid="check-db"`) {
		t.Fatal("search by device")
	}
	// Logout ends every session of the user.
	other := client(t)
	_, body = get(t, other, srv.URL+"/login")
	post(t, other, srv.URL+"/login", url.Values{"csrf": {token(t, body)}, "user": {"admin"}, "password": {"Correct-Horse-9"}})
	_, body = get(t, admin, srv.URL+"/")
	post(t, admin, srv.URL+"/logout", url.Values{"csrf": {token(t, body)}})
	code, body = get(t, other, srv.URL+"/settings")
	if !strings.Contains(body, "Log in") {
		t.Fatalf("other browser still logged in after logout everywhere: %d", code)
	}
}

func TestDevicePageShowsAgentInventory(t *testing.T) {
	srv, _, _ := testServer(t)
	c := client(t)
	setupAdmin(t, srv, c)
	code, body := get(t, c, srv.URL+"/devices/db01")
	for _, want := range []string{`data-testid="agent-db01"`, "Windows Server 2022 Standard", "32.0 GiB", "CZ2049XYZ", "12 installed, 1 pending", "Microsoft SQL Server 2019", "15.0.2000.5", "Not read: serial: access denied", "1 installed applications"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("device page lacks %q: %d\n%s", want, code, body)
		}
	}
	_, body = get(t, c, srv.URL+"/devices/web01")
	if !strings.Contains(body, "No Outpost agent serves this device") {
		t.Fatalf("device without agent:\n%s", body)
	}
}

func TestIncidentPages(t *testing.T) {
	srv, _, _ := testServer(t)
	c := client(t)
	tok := setupAdmin(t, srv, c)
	_, body := get(t, c, srv.URL+"/")
	if !strings.Contains(body, `data-testid="incident-7"`) {
		t.Fatal("dashboard lacks the open incident")
	}
	code, body := get(t, c, srv.URL+"/incidents/7")
	if code != 200 || !strings.Contains(body, "db critical after 2 failed runs") || !strings.Contains(body, `data-testid="ack"`) {
		t.Fatalf("incident page: %d", code)
	}
	code, body = post(t, c, srv.URL+"/incidents/7/act", url.Values{"csrf": {tok}, "verb": {"note"}, "note": {""}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "write the note first") {
		t.Fatalf("empty note: %d", code)
	}
	code, body = post(t, c, srv.URL+"/incidents/7/act", url.Values{"csrf": {tok}, "verb": {"ack"}, "note": {"on it"}})
	if code != 200 || !strings.Contains(body, "acknowledged") || !strings.Contains(body, "on it") {
		t.Fatalf("ack: %d", code)
	}
	code, body = post(t, c, srv.URL+"/incidents/7/act", url.Values{"csrf": {tok}, "verb": {"ack"}})
	if code != http.StatusConflict || !strings.Contains(body, "already acknowledged") {
		t.Fatalf("second ack: %d", code)
	}
	code, body = post(t, c, srv.URL+"/incidents/7/heal", url.Values{"csrf": {tok}, "action": {"0"}})
	if code != 200 || !strings.Contains(body, "restart unit db.service: ok") {
		t.Fatalf("heal: %d", code)
	}
	code, body = get(t, c, srv.URL+"/incidents?all=1")
	if code != 200 || !strings.Contains(body, `data-testid="incident-7"`) {
		t.Fatalf("list: %d", code)
	}
}

func TestCheckEditingIsForAdmins(t *testing.T) {
	srv, _, _ := testServer(t)
	c := client(t)
	tok := setupAdmin(t, srv, c)
	code, body := post(t, c, srv.URL+"/checks/new", url.Values{"csrf": {tok}, "id": {"web2"}, "kind": {"http"}, "target": {"http://127.0.0.1/"}, "interval": {"5x"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `checks[2].interval: &#34;5x&#34; is not a duration`) || !strings.Contains(body, `value="web2"`) {
		t.Fatalf("invalid check: %d", code)
	}
	code, _ = post(t, c, srv.URL+"/checks/new", url.Values{"csrf": {tok}, "id": {"web2"}, "kind": {"http"}, "target": {"http://127.0.0.1/"}, "interval": {"30s"}})
	if code != 200 {
		t.Fatalf("valid check: %d", code)
	}
	code, body = get(t, c, srv.URL+"/settings/config.yaml")
	if code != 200 || body != "site: Acme Dental\n" {
		t.Fatalf("export: %d %q", code, body)
	}
	post(t, c, srv.URL+"/settings/users", url.Values{"csrf": {tok}, "user": {"tech"}, "role": {"technician"}, "password": {"Wrench-Socket-77"}})
	tc := client(t)
	_, body = get(t, tc, srv.URL+"/login")
	post(t, tc, srv.URL+"/login", url.Values{"csrf": {token(t, body)}, "user": {"tech"}, "password": {"Wrench-Socket-77"}})
	_, body = get(t, tc, srv.URL+"/checks")
	if strings.Contains(body, "Add a check") {
		t.Fatal("technicians see the add link")
	}
	if code, _ := post(t, tc, srv.URL+"/checks/web/delete", url.Values{"csrf": {token(t, body)}}); code != http.StatusForbidden {
		t.Fatalf("technician delete: %d", code)
	}
}

func TestNotificationsPage(t *testing.T) {
	srv, _, _ := testServer(t)
	c := client(t)
	tok := setupAdmin(t, srv, c)
	code, body := get(t, c, srv.URL+"/notifications")
	if code != 200 || !strings.Contains(body, `data-testid="test-oncall"`) || !strings.Contains(body, "at once: oncall") {
		t.Fatalf("page: %d", code)
	}
	code, body = post(t, c, srv.URL+"/notifications/test", url.Values{"csrf": {tok}, "channel": {"oncall"}})
	if code != 200 || !strings.Contains(body, "test message sent to oncall: 200 OK") {
		t.Fatalf("send test: %d", code)
	}
	code, body = post(t, c, srv.URL+"/notifications/test", url.Values{"csrf": {tok}, "channel": {"ghost"}})
	if code != http.StatusBadGateway || !strings.Contains(body, "test to ghost failed: ghost did not answer") {
		t.Fatalf("channel not answering: %d", code)
	}
	code, body = post(t, c, srv.URL+"/notifications/test", url.Values{"csrf": {tok}, "channel": {"nosuch"}})
	if code != http.StatusNotFound || !strings.Contains(body, `test to nosuch failed: no channel &#34;nosuch&#34;`) {
		t.Fatalf("unknown channel: %d\n%s", code, body)
	}
}

func TestSectionEditor(t *testing.T) {
	srv, _, _ := testServer(t)
	c := client(t)
	tok := setupAdmin(t, srv, c)
	code, body := get(t, c, srv.URL+"/settings/config/notify")
	if code != 200 || !strings.Contains(body, "channels: []") {
		t.Fatalf("editor: %d", code)
	}
	if code, _ := get(t, c, srv.URL+"/settings/config/store"); code != 404 {
		t.Fatalf("store section editable: %d", code)
	}
	code, body = post(t, c, srv.URL+"/settings/config/notify", url.Values{"csrf": {tok}, "yaml": {"bad"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "expected a mapping") {
		t.Fatalf("invalid section: %d", code)
	}
	if code, _ := post(t, c, srv.URL+"/settings/config/notify", url.Values{"csrf": {tok}, "yaml": {"channels: []"}}); code != 200 {
		t.Fatalf("valid section: %d", code)
	}
}

func TestStaticAssetsCached(t *testing.T) {
	srv, _, _ := testServer(t)
	resp, err := http.Get(srv.URL + "/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=86400") {
		t.Fatalf("static: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestGraphBounded(t *testing.T) {
	now := time.Now()
	var pts []Point
	for i := 0; i < 8760; i++ {
		pts = append(pts, Point{Time: now.Add(-time.Duration(8760-i) * time.Hour), Latency: time.Duration(i%50) * time.Millisecond, Failures: i % 500 / 499})
	}
	g := BuildGraph(pts, now.Add(-8760*time.Hour), now, 600, 160, true, UnitOf("http"))
	if segs := strings.Count(g.Path, "L") + strings.Count(g.Path, "M"); segs > maxPoints {
		t.Fatalf("path has %d points for a year", segs)
	}
	if len(g.Fails) == 0 || g.Empty {
		t.Fatal("failures not marked")
	}
}

// The dashboard says whether the box's clock can be trusted, from its
// clock check: a technician must see at a glance that timestamps, and
// everything judged by date, are off.
func TestDashboardShowsBoxClock(t *testing.T) {
	now := time.Unix(600, 0).UTC()
	bad := checks.Result{Time: now, Status: checks.Warning, Detail: "the clock reads 1970-01-01 00:10 UTC, before this software existed"}.WithValue(checks.ClockUnsynced)
	v := BuildDashboard([]CheckState{{ID: "outpost-clock", Kind: "clock", Latest: &bad, Since: now}}, now)
	var b strings.Builder
	if err := dashboardView(v).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if !strings.Contains(html, `data-testid="box-clock-sync">not synchronised<`) || !strings.Contains(html, "before this software existed") {
		t.Fatalf("dashboard clock line:\n%s", html)
	}
	v = BuildDashboard([]CheckState{{ID: "outpost-clock", Kind: "clock"}}, now)
	b.Reset()
	dashboardView(v).Render(context.Background(), &b)
	if !strings.Contains(b.String(), `data-testid="box-clock-sync">unknown<`) {
		t.Fatalf("clock not run yet:\n%s", b.String())
	}
}

// TestTrendGraphDrawsTheCrossing: a series at 75 % rising 1 %/day over
// a week reaches 80 in 5 days: the x axis runs on to the crossing, the
// dot sits on the threshold rule right of now, and the trend line ends
// at the crossing, on the threshold.
func TestTrendGraphDrawsTheCrossing(t *testing.T) {
	now := time.Date(2031, 3, 17, 14, 0, 0, 0, time.UTC)
	from := now.Add(-7 * 24 * time.Hour)
	var pts []Point
	for at := from; !at.After(now); at = at.Add(time.Hour) {
		pts = append(pts, Point{Time: at, Value: 75 - now.Sub(at).Hours()/24, HasValue: true})
	}
	tl := TrendLine{From: from, Now: now, Level: 75, PerDay: 1, Name: "warning", Threshold: 80, At: now.Add(5 * 24 * time.Hour)}
	g := BuildTrendGraph(pts, from, now, 960, 260, UnitOf("disk"), tl)
	if g.Trend == "" || g.Threshold == nil || g.Cross == nil || g.Now == nil {
		t.Fatalf("graph without its forecast: %+v", g)
	}
	if g.Cross.X <= g.Now.X1 || math.Abs(g.Cross.Y-g.Threshold.Y1) > 0.01 {
		t.Errorf("crossing at (%.1f, %.1f), now at x %.1f, threshold at y %.1f", g.Cross.X, g.Cross.Y, g.Now.X1, g.Threshold.Y1)
	}
	var x0, y0, x1, y1 float64
	if _, err := fmt.Sscanf(g.Trend, "M%f %fL%f %f", &x0, &y0, &x1, &y1); err != nil {
		t.Fatalf("trend path %q: %v", g.Trend, err)
	}
	if x1 < g.Cross.X || y1 > g.Threshold.Y1+0.5 || y0 <= y1 {
		t.Errorf("trend %q does not rise to the crossing at (%.1f, %.1f)", g.Trend, g.Cross.X, g.Cross.Y)
	}
	if g.ThresholdLabel.Text != "warning 80 %" {
		t.Errorf("threshold label %q", g.ThresholdLabel.Text)
	}
	var b strings.Builder
	if err := graphSVG(g, "graph", "disk").Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"graph-trend", "graph-threshold", "graph-cross"} {
		if !strings.Contains(b.String(), `data-testid="`+id+`"`) {
			t.Errorf("no %s in\n%s", id, b.String())
		}
	}
}
