//go:build linux

package hq_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	url2 "net/url"
	"strings"
	"testing"

	"outpost/appliance/hq"
	"outpost/appliance/hq/pgtest"
	"outpost/checks/clock"
)

// TestPostgresBackend runs the receiver's rules again on a real
// PostgreSQL (a cluster of its own, one fresh database per test): what
// is stored, duplicates and conflicts, the floor, quotas and retention,
// commands and their confirmation, accounts, sessions and the login
// limits, the acknowledge rate limit. Both backends answer the same.
func TestPostgresBackend(t *testing.T) {
	pg := pgtest.Start(t)
	saved := newHQ
	t.Cleanup(func() { newHQ = saved })
	newHQ = func(t testing.TB, clk clock.Clock, lim hq.Limits) *hq.Server {
		t.Helper()
		db, err := hq.OpenPostgres(context.Background(), pg.URL(pg.NewDatabase(t)), clk)
		if err != nil {
			t.Fatal(err)
		}
		s, err := hq.OpenStore(db, hq.Options{Clock: clk, Log: quiet(), Limits: lim})
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for name, test := range map[string]func(*testing.T){
		"ConflictingSummaryRefused":     TestConflictingSummaryRefused,
		"HigherSeqDoesNotSwallowLower":  TestHigherSeqDoesNotSwallowLower,
		"PerBoxQuotaAndRetention":       TestPerBoxQuotaAndRetention,
		"FleetNeedsLogin":               TestFleetNeedsLogin,
		"LoginLimits":                   TestLoginLimits,
		"SitePageDecodesNoSummary":      TestSitePageDecodesNoSummary,
		"BoxTextIsPlain":                TestBoxTextIsPlain,
		"CommandPendingUntilConfirmed":  TestCommandPendingUntilConfirmed,
		"OneCommandOfEachKindPending":   TestOneCommandOfEachKindPending,
		"HistoryShowsWhenReceived":      TestHistoryShowsWhenReceived,
		"SitePageAcknowledgesAndBehind": TestSitePageAcknowledgesAndShowsBehind,
		"UnauthenticatedUploadsBounded": TestUnauthenticatedUploadsBounded,
		"SitePagePaginates":             TestSitePagePaginates,
		"AccountsRolesAndSites":         TestAccountsRolesAndSites,
		"APINeedsAToken":                TestAPINeedsAToken,
	} {
		t.Run(name, test)
	}
}

// TestSharedStateAcrossInstances: two receivers on one PostgreSQL share
// what one instance must not keep to itself: failed logins count for
// both (5 from one address, spread over the two, block the sixth on
// either), a session made through one logs in on the other, and only
// one of them leads the watcher at a time; when the leader lets go, the
// other takes over.
func TestSharedStateAcrossInstances(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.URL(pg.NewDatabase(t))
	var servers []*hq.Server
	for range 2 {
		db, err := hq.OpenPostgres(context.Background(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := hq.OpenStore(db, hq.Options{Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		servers = append(servers, s)
	}
	if err := servers[0].AddUser("alice", testPassword, false); err != nil {
		t.Fatal(err)
	}
	a, b := fleet(servers[0], nil), fleet(servers[1], nil)
	cookies := login(t, a, "alice", testPassword)
	if w := get(b, "http://hq.example/", cookies); w.Code != http.StatusOK {
		t.Fatalf("a session made on A, on B: %d", w.Code)
	}
	try := func(h http.Handler, pw string) int {
		w := get(h, "http://hq.example/login", nil)
		token := csrfField.FindStringSubmatch(w.Body.String())[1]
		form := url2.Values{"user": {"alice"}, "password": {pw}, "csrf": {token}}
		r := httptest.NewRequest("POST", "http://hq.example/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.7:40000"
		for _, c := range w.Result().Cookies() {
			r.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	for i := range 5 {
		if code := try([]http.Handler{a, b}[i%2], "Wrong-Horse-99"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	for name, h := range map[string]http.Handler{"A": a, "B": b} {
		if code := try(h, testPassword); code != http.StatusTooManyRequests {
			t.Fatalf("the sixth attempt, on %s, after five failures spread over both: %d", name, code)
		}
	}

	ctx := context.Background()
	_, releaseA, okA, err := servers[0].Store().Lead(ctx)
	if err != nil || !okA {
		t.Fatalf("A leads: %v %v", okA, err)
	}
	if _, _, okB, err := servers[1].Store().Lead(ctx); err != nil || okB {
		t.Fatalf("B leads too while A does: %v %v", okB, err)
	}
	releaseA()
	_, releaseB, okB, err := servers[1].Store().Lead(ctx)
	if err != nil || !okB {
		t.Fatalf("B after A let go: %v %v", okB, err)
	}
	releaseB()
}
