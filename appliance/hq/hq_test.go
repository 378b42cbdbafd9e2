package hq_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	"outpost/firmware/identity"
	"outpost/store"
	hqui "outpost/ui/hq"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func slogTo(w io.Writer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{w, mu}, nil))
}

// newHQ opens a real receiver: on bbolt in a temporary directory, or on
// a fresh PostgreSQL database while TestPostgresBackend runs the tests
// again (store_pg_test.go).
var newHQ = newBoltHQ

func newBoltHQ(t testing.TB, clk clock.Clock, lim hq.Limits) *hq.Server {
	t.Helper()
	s, err := hq.OpenWith(filepath.Join(t.TempDir(), "hq.db"), hq.Options{Clock: clk, Log: quiet(), Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fleet is the real fleet pages over s, answering to hq.example.
func fleet(s *hq.Server, clk clock.Clock) http.Handler {
	return hqui.New(hqui.Options{Source: s, Users: s, Hosts: []string{"hq.example"}, Clock: clk, Log: quiet(), Limits: s.LoginLimits()})
}

const testPassword = "Correct-Horse-9"

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs user in through the real login form and returns the
// cookies a browser would then send.
func login(t testing.TB, h http.Handler, user, pw string) []*http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://hq.example/login", nil))
	m := csrfField.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("login form without a token: %d %s", w.Code, w.Body.String())
	}
	pre := w.Result().Cookies()
	form := url.Values{"user": {user}, "password": {pw}, "csrf": {m[1]}, "next": {"/"}}
	r := httptest.NewRequest("POST", "http://hq.example/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range pre {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login as %s: %d %s", user, w.Code, w.Body.String())
	}
	return w.Result().Cookies()
}

func get(h http.Handler, target string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", target, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func newBox(t testing.TB) *identity.Identity {
	st, err := store.Open(filepath.Join(t.TempDir(), "box.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := identity.Load(st)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func post(h http.Handler, id *identity.Identity, boxHeader string, seq uint64, body []byte, mod func(*http.Request)) *httptest.ResponseRecorder {
	at := time.Now().UTC().Format(time.RFC3339Nano)
	r := httptest.NewRequest("POST", "/v1/summaries", bytes.NewReader(body))
	r.Header.Set(wire.HeaderBox, boxHeader)
	r.Header.Set(wire.HeaderSeq, strconv.FormatUint(seq, 10))
	r.Header.Set(wire.HeaderTime, at)
	r.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(boxHeader, seq))
	r.Header.Set(wire.HeaderSignature, base64.StdEncoding.EncodeToString(id.Sign(wire.SignedBytes(boxHeader, seq, at, body))))
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func summary(t testing.TB, id *identity.Identity, seq uint64) []byte {
	b, err := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: id.ID(), Site: "Acme"}, Seq: seq, Time: time.Now(), Reason: "interval", Interval: 60})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestBadRequestsRefused: each malformed or hostile request gets a clear
// error and stores nothing.
func TestBadRequestsRefused(t *testing.T) {
	s, err := hq.Open(filepath.Join(t.TempDir(), "hq.db"), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	box, stranger := newBox(t), newBox(t)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register("nope", box.PublicKeyString(), ""); err == nil {
		t.Fatal("registered a malformed box id")
	}
	if _, err := s.Register(box.ID(), "ed25519:short", ""); err == nil {
		t.Fatal("registered a malformed key")
	}
	h := s.Handler()
	// A bomb: 64 MB of zeros in a small gzip.
	bomb := gz(append([]byte(`{"schema":"outpost-summary/1","box":{"id":"`+box.ID()+`"},"seq":1,"x":"`), make([]byte, 64<<20)...))
	for _, c := range []struct {
		name string
		w    *httptest.ResponseRecorder
		code int
		msg  string
	}{
		{"unregistered", post(h, stranger, stranger.ID(), 1, summary(t, stranger, 1), nil), 401, "is not registered"},
		{"signed by another key", post(h, stranger, box.ID(), 1, summary(t, box, 1), nil), 401, "signature does not verify"},
		{"no seq", post(h, box, box.ID(), 1, summary(t, box, 1), func(r *http.Request) { r.Header.Del(wire.HeaderSeq) }), 400, "missing or bad"},
		{"idempotency key", post(h, box, box.ID(), 1, summary(t, box, 1), func(r *http.Request) { r.Header.Set(wire.HeaderIdem, "x") }), 400, "Idempotency-Key must be"},
		{"not gzip", post(h, box, box.ID(), 1, []byte("{}"), nil), 400, "summary is not gzip"},
		{"bad JSON", post(h, box, box.ID(), 1, gz([]byte("{")), nil), 400, "summary JSON"},
		{"other schema", post(h, box, box.ID(), 1, gz([]byte(`{"schema":"outpost-summary/9"}`)), nil), 400, "this receiver reads"},
		{"body names another seq", post(h, box, box.ID(), 2, summary(t, box, 1), nil), 400, "summary says box"},
		{"decompression bomb", post(h, box, box.ID(), 1, bomb, nil), 400, "over 16777216 bytes uncompressed"},
		{"oversized body", post(h, box, box.ID(), 1, make([]byte, hq.MaxBody+1), nil), 413, "summary over"},
	} {
		if c.w.Code != c.code || !strings.Contains(c.w.Body.String(), c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.name, c.w.Code, c.w.Body.String(), c.code, c.msg)
		}
	}
	if seqs, _ := s.Seqs(box.ID()); len(seqs) != 0 {
		t.Fatalf("refused requests stored summaries: %v", seqs)
	}
	// A good one, then the same again (a retry): one stored, both acked.
	first := summary(t, box, 1)
	for i, want := range []string{`{"ack":1}`, `{"ack":1,"duplicate":true}`} {
		if w := post(h, box, box.ID(), 1, first, nil); w.Code != 200 || strings.TrimSpace(w.Body.String()) != want {
			t.Fatalf("post %d: %d %s", i, w.Code, w.Body.String())
		}
	}
	if seqs, _ := s.Seqs(box.ID()); len(seqs) != 1 {
		t.Fatalf("stored %v", seqs)
	}
}

// TestSitePageShowsLoss: a summary reporting what the box's quota
// dropped shows it on the site's page, figures and all.
func TestSitePageShowsLoss(t *testing.T) {
	s, err := hq.Open(filepath.Join(t.TempDir(), "hq.db"), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	box := newBox(t)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	body, err := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: box.ID(), Site: "Acme"}, Seq: 40, Time: time.Now(), Reason: "interval", Interval: 60,
		Lost: wire.Lost{Total: 30, FirstSeq: 1, LastSeq: 30, IncidentsClosed: 4, InventoryNew: 2, InventoryGone: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if w := post(s.Handler(), box, box.ID(), 40, body, nil); w.Code != 200 {
		t.Fatalf("post: %d %s", w.Code, w.Body.String())
	}
	if err := s.AddUser("alice", testPassword, false); err != nil {
		t.Fatal(err)
	}
	h := fleet(s, nil)
	page := get(h, "http://hq.example/boxes/"+box.ID(), login(t, h, "alice", testPassword)).Body.String()
	for _, want := range []string{"dropped 30 summaries (seq 1 to 30", "held 4 closed incidents and 2 new, 1 gone, 0 changed devices"} {
		if !strings.Contains(page, want) {
			t.Fatalf("site page lacks %q:\n%s", want, page)
		}
	}
}

// TestReplayDoesNotLookAlive: a captured request replayed later is
// acknowledged as a duplicate but does not make a silent box look alive;
// the box's own retry (signed anew) does.
func TestReplayDoesNotLookAlive(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	s, err := hq.Open(filepath.Join(t.TempDir(), "hq.db"), clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	box := newBox(t)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	body := summary(t, box, 1)
	at := clk.Now().Format(time.RFC3339Nano)
	sendAt := func(at string) *httptest.ResponseRecorder {
		return post(s.Handler(), box, box.ID(), 1, body, func(r *http.Request) {
			r.Header.Set(wire.HeaderTime, at)
			r.Header.Set(wire.HeaderSignature, base64.StdEncoding.EncodeToString(box.Sign(wire.SignedBytes(box.ID(), 1, at, body))))
		})
	}
	lastSeen := func() time.Time {
		boxes, err := s.Boxes()
		if err != nil || len(boxes) != 1 {
			t.Fatal(boxes, err)
		}
		return boxes[0].LastSeen
	}
	if w := sendAt(at); w.Code != 200 {
		t.Fatalf("first: %d %s", w.Code, w.Body.String())
	}
	first := lastSeen()
	clk.Advance(time.Hour)
	if w := sendAt(at); w.Code != 200 || !strings.Contains(w.Body.String(), `"duplicate":true`) {
		t.Fatalf("replay: %d %s", w.Code, w.Body.String())
	}
	if got := lastSeen(); !got.Equal(first) {
		t.Fatalf("a replayed request moved last seen from %v to %v", first, got)
	}
	if w := sendAt(clk.Now().Format(time.RFC3339Nano)); w.Code != 200 || !strings.Contains(w.Body.String(), `"duplicate":true`) {
		t.Fatalf("retry: %d %s", w.Code, w.Body.String())
	}
	if got := lastSeen(); !got.Equal(clk.Now().UTC()) {
		t.Fatalf("the box's own retry did not count as contact: last seen %v, now %v", got, clk.Now())
	}
	if w := sendAt("yesterday"); w.Code != 400 {
		t.Fatalf("unparsable signed time: %d %s", w.Code, w.Body.String())
	}
}
