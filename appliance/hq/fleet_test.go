package hq_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
)

// fillFleet registers n boxes, each with one summary: site "Site %05d",
// every tenth critical, every fifth on version 1.3.9.
func fillFleet(tb testing.TB, s *hq.Server, n int) {
	tb.Helper()
	h := s.Handler()
	for i := range n {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		id := wire.BoxID(pub)
		if _, err := s.Register(id, wire.FormatPublicKey(pub), ""); err != nil {
			tb.Fatal(err)
		}
		health := wire.Health{Checks: 20, OK: 20}
		if i%10 == 0 {
			health = wire.Health{Checks: 20, OK: 19, Critical: 1}
		}
		version := "1.4.0"
		if i%5 == 0 {
			version = "1.3.9"
		}
		body, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: id, Site: fmt.Sprintf("Site %05d", i), Version: version}, Seq: 1, Time: time.Now(), Reason: "interval", Interval: 300, Health: health})
		at := time.Now().UTC().Format(time.RFC3339Nano)
		r := httptest.NewRequest("POST", "/v1/summaries", bytes.NewReader(body))
		r.Header.Set(wire.HeaderBox, id)
		r.Header.Set(wire.HeaderSeq, "1")
		r.Header.Set(wire.HeaderTime, at)
		r.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(id, 1))
		r.Header.Set(wire.HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(priv, wire.SignedBytes(id, 1, at, body))))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			tb.Fatalf("summary %d: %d %s", i, w.Code, w.Body.String())
		}
	}
}

var fleetSite = regexp.MustCompile(`>Site (\d{5})</a>`)

// TestFleetFiltersAndPages: the fleet page lists 200 sites a page, with
// a link to the next; a search, a status and a version narrow it, and
// the count says how many match.
func TestFleetFiltersAndPages(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	fillFleet(t, s, 250)
	s.AddUser("alice", testPassword, false)
	fh := fleet(s, nil)
	cookies := login(t, fh, "alice", testPassword)
	page := func(q string) (sites []string, body string) {
		w := get(fh, "http://hq.example/"+q, cookies)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", q, w.Code)
		}
		for _, m := range fleetSite.FindAllStringSubmatch(w.Body.String(), -1) {
			sites = append(sites, m[1])
		}
		return sites, w.Body.String()
	}
	first, body := page("")
	if len(first) != 200 || !strings.Contains(body, `data-testid="fleet-next" href="/?page=1"`) || !strings.Contains(body, ">250 sites<") {
		t.Fatalf("first page: %d sites\n%.2000s", len(first), body)
	}
	second, body := page("?page=1")
	if len(second) != 50 || strings.Contains(body, "fleet-next") || !strings.Contains(body, "fleet-prev") {
		t.Fatalf("second page: %d sites", len(second))
	}
	all := append(first, second...)
	slices.Sort(all)
	if len(slices.Compact(all)) != 250 {
		t.Fatal("a site on both pages, or on neither")
	}
	for q, want := range map[string]int{"?status=critical": 25, "?q=site+0001": 10, "?version=1.3.9": 50, "?status=critical&version=1.3.9": 25, "?status=silent": 0, "?q=nothing-like-it": 0} {
		if got, _ := page(q); len(got) != want {
			t.Errorf("%s: %d sites, want %d", q, len(got), want)
		}
	}
}

// BenchmarkHQFleetPage: the fleet page of a receiver on bbolt with
// 10,000 sites, logged in: the first page, a status filter and a
// search, each request timed; reported as p50 and p99 over all of them.
func BenchmarkHQFleetPage(b *testing.B) {
	s := newHQ(b, nil, hq.Limits{})
	fillFleet(b, s, 10_000)
	s.AddUser("alice", testPassword, false)
	fh := fleet(s, nil)
	cookies := login(b, fh, "alice", testPassword)
	queries := []string{"", "?status=critical", "?q=site+0123", "?page=3"}
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		w := get(fh, "http://hq.example/"+queries[i%len(queries)], cookies)
		took = append(took, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
