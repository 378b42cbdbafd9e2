package hq_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
	"outpost/firmware/identity"
	hqui "outpost/ui/hq"
)

var historySeq = regexp.MustCompile(`<tr[^>]*><td>(\d+)</td><td>\d{4}-`)

// TestSitePagePaginates: a box with more summaries than a page holds
// shows the newest hqui.HistoryRows, then older pages through the
// "older" link, down to the first summary; every summary is on exactly
// one page, and a bad bound is refused.
func TestSitePagePaginates(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	h := s.Handler()
	total := 2*hqui.HistoryRows + 50
	for seq := uint64(1); seq <= uint64(total); seq++ {
		if w := post(h, box, box.ID(), seq, summary(t, box, seq), nil); w.Code != http.StatusOK {
			t.Fatalf("summary %d: %d %s", seq, w.Code, w.Body.String())
		}
	}
	s.AddUser("alice", testPassword, false)
	fh := fleet(s, nil)
	cookies := login(t, fh, "alice", testPassword)
	seen := map[string]int{}
	next, pages := "/boxes/"+box.ID(), 0
	older := regexp.MustCompile(`data-testid="older" href="([^"]+)"`)
	for next != "" {
		w := get(fh, "http://hq.example"+strings.ReplaceAll(next, "&amp;", "&"), cookies)
		page := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", next, w.Code, page)
		}
		rows := historySeq.FindAllStringSubmatch(page, -1)
		if pages < 2 && len(rows) != hqui.HistoryRows || pages == 2 && len(rows) != 50 {
			t.Fatalf("page %d (%s) has %d rows", pages, next, len(rows))
		}
		for _, r := range rows {
			seen[r[1]]++
		}
		if pages > 0 && !strings.Contains(page, `data-testid="newest"`) {
			t.Fatalf("page %d has no link to the newest", pages)
		}
		next = ""
		if m := older.FindStringSubmatch(page); m != nil {
			next = m[1]
		}
		pages++
	}
	if pages != 3 || len(seen) != total {
		t.Fatalf("%d pages, %d distinct summaries of %d", pages, len(seen), total)
	}
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("summary %s on %d pages", seq, n)
		}
	}
	if w := get(fh, "http://hq.example/boxes/"+box.ID()+"?before=x", cookies); w.Code != http.StatusBadRequest {
		t.Fatalf("a bad bound: %d", w.Code)
	}
}

// TestAccountsRolesAndSites: an admin sees and acknowledges everything;
// a technician limited to one site sees only it (the other site's page,
// its incidents and alerts are 404, as if absent) and acknowledges
// there; a viewer sees its site but cannot acknowledge (no button, 403
// on the form's address). A new password keeps the role.
func TestAccountsRolesAndSites(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	acme, baker := newBox(t), newBox(t)
	s.Register(acme.ID(), acme.PublicKeyString(), "Acme")
	s.Register(baker.ID(), baker.PublicKeyString(), "Baker")
	h := s.Handler()
	for b, site := range map[*identity.Identity]string{acme: "Acme", baker: "Baker"} {
		body, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: b.ID(), Site: site}, Seq: 1, Time: time.Now(), Reason: "interval", Interval: 60,
			OpenIncidents: []wire.Incident{{ID: 1, Check: "db-port", Device: "db", Severity: "critical", State: "open", Summary: "connection refused", Opened: time.Now()}}})
		if w := post(h, b, b.ID(), 1, body, nil); w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body.String())
		}
	}
	for _, u := range []hq.UserRequest{
		{Name: "alice", Password: testPassword},
		{Name: "tom", Password: testPassword, Role: hqui.RoleTechnician, Sites: []string{"Acme"}},
		{Name: "vera", Password: testPassword, Role: hqui.RoleViewer, Sites: []string{acme.ID()}},
	} {
		if err := s.AddAccount(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddAccount(hq.UserRequest{Name: "eve", Password: testPassword, Role: "root"}); err == nil {
		t.Fatal("an unknown role")
	}
	if err := s.AddAccount(hq.UserRequest{Name: "vera", Password: "Another-Horse-7", Replace: true}); err != nil {
		t.Fatal(err)
	}
	fh := fleet(s, nil)
	ack := func(cookies []*http.Cookie, box *identity.Identity) int {
		page := get(fh, "http://hq.example/", cookies).Body.String()
		token := csrfField.FindStringSubmatch(page)
		r := httptest.NewRequest("POST", "http://hq.example/boxes/"+box.ID()+"/incidents/1/ack", strings.NewReader("csrf="+token[1]))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		fh.ServeHTTP(w, r)
		return w.Code
	}
	sees := func(cookies []*http.Cookie) (acmeSeen, bakerSeen bool) {
		page := get(fh, "http://hq.example/", cookies).Body.String()
		return strings.Contains(page, acme.ID()), strings.Contains(page, baker.ID())
	}

	alice := login(t, fh, "alice", testPassword)
	if a, b := sees(alice); !a || !b {
		t.Fatalf("admin sees acme %v, baker %v", a, b)
	}
	if code := ack(alice, baker); code != http.StatusSeeOther {
		t.Fatalf("admin acknowledges: %d", code)
	}

	tom := login(t, fh, "tom", testPassword)
	if a, b := sees(tom); !a || b {
		t.Fatalf("technician of Acme sees acme %v, baker %v", a, b)
	}
	if w := get(fh, "http://hq.example/boxes/"+baker.ID(), tom); w.Code != http.StatusNotFound {
		t.Fatalf("technician on another site's page: %d", w.Code)
	}
	if code := ack(tom, baker); code != http.StatusNotFound {
		t.Fatalf("technician acknowledging on another site: %d", code)
	}
	if code := ack(tom, acme); code != http.StatusSeeOther {
		t.Fatalf("technician acknowledging on their site: %d", code)
	}

	vera := login(t, fh, "vera", "Another-Horse-7")
	if a, b := sees(vera); !a || b {
		t.Fatalf("viewer of acme sees acme %v, baker %v", a, b)
	}
	if page := get(fh, "http://hq.example/boxes/"+acme.ID(), vera).Body.String(); strings.Contains(page, "/incidents/1/ack") {
		t.Fatal("a viewer is offered to acknowledge")
	}
	if code := ack(vera, acme); code != http.StatusForbidden {
		t.Fatalf("viewer acknowledging: %d", code)
	}
	users, _ := s.ListUsers()
	for _, u := range users {
		if u.Name == "vera" && (u.Role != hqui.RoleViewer || len(u.Sites) != 1) {
			t.Fatalf("a new password changed vera's account: %+v", u)
		}
	}
}

// TestSingleSignOnHeader: with AuthHeader set, a request from the
// trusted proxy naming a user with an account is that user's session
// (their role and sites apply); the same header from another address is
// ignored (the login form), and one naming no account is refused.
func TestSingleSignOnHeader(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	acme, baker := newBox(t), newBox(t)
	s.Register(acme.ID(), acme.PublicKeyString(), "Acme")
	s.Register(baker.ID(), baker.PublicKeyString(), "Baker")
	s.AddAccount(hq.UserRequest{Name: "tom", Password: testPassword, Role: hqui.RoleTechnician, Sites: []string{"Acme"}})
	fh := hqui.New(hqui.Options{Source: s, Users: s, Hosts: []string{"hq.example"}, Log: quiet(), AuthHeader: "X-Forwarded-User"})
	req := func(from, user string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://hq.example/", nil)
		r.RemoteAddr = from + ":50000"
		r.Header.Set("X-Forwarded-User", user)
		w := httptest.NewRecorder()
		fh.ServeHTTP(w, r)
		return w
	}
	w := req("127.0.0.1", "tom")
	if page := w.Body.String(); w.Code != http.StatusOK || !strings.Contains(page, acme.ID()) || strings.Contains(page, baker.ID()) || !strings.Contains(page, `data-testid="user">tom`) {
		t.Fatalf("tom through the proxy: %d\n%s", w.Code, page)
	}
	if len(w.Result().Cookies()) == 0 {
		t.Fatal("no session cookie: the pages' forms need its CSRF token")
	}
	if w := req("192.0.2.9", "tom"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
		t.Fatalf("the header from an untrusted address: %d %s", w.Code, w.Header().Get("Location"))
	}
	if w := req("127.0.0.1", "mallory"); w.Code != http.StatusForbidden {
		t.Fatalf("a proxy user without an account: %d", w.Code)
	}
}
