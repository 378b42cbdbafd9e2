package hq_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
)

// Attacks on the receiver, each against a real hq (its store and its
// HTTP handlers, over a real net/http server where the network matters).

// stranger is a box key nobody registered, and its id.
func stranger(t testing.TB) (ed25519.PrivateKey, string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, wire.BoxID(pub)
}

// register registers n fresh keys and returns their ids.
func registerKeys(t testing.TB, s *hq.Server, n int) []string {
	var ids []string
	for range n {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		id := wire.BoxID(pub)
		if _, err := s.Register(id, wire.FormatPublicKey(pub), "Site"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// upload posts body claiming to be summary 1 of box, with a signature
// that does not verify, from the local address src ("" for any).
func upload(client *http.Client, url, box string, body []byte) (int, error) {
	req, _ := http.NewRequest("POST", url+"/v1/summaries", bytes.NewReader(body))
	req.Header.Set(wire.HeaderBox, box)
	req.Header.Set(wire.HeaderSeq, "1")
	req.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(box, 1))
	req.Header.Set(wire.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	req.Header.Set(wire.HeaderSignature, base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize)))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// heapPeak samples the heap in use until stop is called and returns the
// peak above what was in use at the start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base.HeapInuse && m.HeapInuse-base.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse - base.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestUnauthenticatedUploadsBounded: 200 concurrent 8 MiB uploads nobody
// signed: a third name no registered box (401 before a byte is read), a
// third name one registered box (its two upload slots, then 503), a
// third name 50 registered boxes from 50 loopback addresses (the global
// bound). Before the fix hq read every body first: the heap grew by
// 2.4 GB. Now it stays within the in-flight bound, nothing is stored,
// and the real box gets through afterwards.
func TestUnauthenticatedUploadsBounded(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	ids := registerKeys(t, s, 50)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	big := make([]byte, hq.MaxBody)  // shared by every request: the client holds one copy
	multi := runtime.GOOS == "linux" // any 127.0.0.0/8 source address is local
	clientFrom := func(i int) *http.Client {
		d := &net.Dialer{}
		if multi {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i%50+1))}
		}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: time.Minute}
	}
	stop := heapPeak()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var code int
			switch i % 3 {
			case 0:
				_, id := stranger(t)
				code, _ = upload(http.DefaultClient, ts.URL, id, big)
			case 1:
				code, _ = upload(http.DefaultClient, ts.URL, box.ID(), big)
			case 2:
				code, _ = upload(clientFrom(i), ts.URL, ids[i%len(ids)], big)
			}
			mu.Lock()
			codes[code]++ // 0: the connection was closed on an unread body
			mu.Unlock()
		}()
	}
	wg.Wait()
	peak := stop()
	t.Logf("heap peak +%d MiB; answers %v", peak>>20, codes)
	if bound := uint64(hq.DefaultLimits.UploadBytes) * 2; peak > bound {
		t.Errorf("200 unauthenticated 8 MiB uploads grew the heap by %d MiB (bound %d MiB)", peak>>20, bound>>20)
	}
	for code, n := range codes {
		if code != 0 && code != 401 && code != 503 {
			t.Errorf("%d uploads answered %d", n, code)
		}
	}
	if codes[401] == 0 || codes[503] == 0 {
		t.Errorf("expected both 401 (not registered, bad signature) and 503 (busy): %v", codes)
	}
	for _, b := range append(ids, box.ID()) {
		if seqs, _ := s.Seqs(b); len(seqs) > 0 {
			t.Fatalf("box %s: unsigned uploads stored %v", b, seqs)
		}
	}
	if w := post(s.Handler(), box, box.ID(), 1, summary(t, box, 1), nil); w.Code != 200 {
		t.Fatalf("the real box after the flood: %d %s", w.Code, w.Body.String())
	}
}

// TestSlowUploadsCutOff: uploads that trickle hold a box's two slots
// only until the upload deadline; a third meanwhile gets 503 with
// Retry-After, and the box gets through once they are cut off.
func TestSlowUploadsCutOff(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{UploadTimeout: time.Second})
	box := newBox(t)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe()
			go func() {
				for i := 0; i < 30; i++ {
					if _, err := pw.Write([]byte{0}); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", ts.URL+"/v1/summaries", pr)
			req.ContentLength = 1 << 20
			req.Header.Set(wire.HeaderBox, box.ID())
			req.Header.Set(wire.HeaderSeq, "1")
			req.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(box.ID(), 1))
			req.Header.Set(wire.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
			req.Header.Set(wire.HeaderSignature, base64.StdEncoding.EncodeToString(make([]byte, 64)))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			pr.Close()
		}()
	}
	time.Sleep(300 * time.Millisecond)
	body := summary(t, box, 1)
	w := post(s.Handler(), box, box.ID(), 1, body, nil)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("a third upload while two trickle: %d %s (Retry-After %q)", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
	wg.Wait()
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("trickling uploads held on for %s (deadline 1s)", d)
	}
	if w := post(s.Handler(), box, box.ID(), 1, body, nil); w.Code != 200 {
		t.Fatalf("after the trickles were cut off: %d %s", w.Code, w.Body.String())
	}
}

// TestConflictingSummaryRefused: a summary signed by the box under a
// sequence number already stored with other content is refused with 409
// and recorded; the stored one stays, byte for byte, and the box's own
// retry of it is still a duplicate. Before the fix hq answered
// "duplicate" and dropped the other content without a trace.
func TestConflictingSummaryRefused(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	a := summary(t, box, 1)
	b, err := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: box.ID(), Site: "Elsewhere"}, Seq: 1, Time: time.Now(), Reason: "start"})
	if err != nil {
		t.Fatal(err)
	}
	if w := post(s.Handler(), box, box.ID(), 1, a, nil); w.Code != 200 {
		t.Fatalf("first: %d %s", w.Code, w.Body.String())
	}
	w := post(s.Handler(), box, box.ID(), 1, b, nil)
	var c wire.Conflict
	if w.Code != http.StatusConflict || json.Unmarshal(w.Body.Bytes(), &c) != nil || c.Seq != 1 || c.LastSeq != 1 || !strings.Contains(c.Error, "differs from the stored") {
		t.Fatalf("other content under seq 1: %d %s", w.Code, w.Body.String())
	}
	if w := post(s.Handler(), box, box.ID(), 1, a, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"duplicate":true`) {
		t.Fatalf("the box's retry of the stored one: %d %s", w.Code, w.Body.String())
	}
	sums, _ := s.Summaries(box.ID(), 10)
	if len(sums) != 1 || sums[0].Box.Site != "Acme" {
		t.Fatalf("stored: %+v", sums)
	}
	got, _, _ := s.Box(box.ID())
	if got.Conflicts != 1 || got.LastConflict == nil || got.LastConflict.Seq != 1 || got.Site != "Acme" {
		t.Fatalf("box record: %+v", got)
	}
	rows, _ := s.Fleet()
	if len(rows) != 1 || rows[0].Conflicts != 1 {
		t.Fatalf("fleet row: %+v", rows)
	}
}

// TestHigherSeqDoesNotSwallowLower: a summary far ahead (a box whose
// older summaries are still on their way, or a request from a stolen
// key) no longer makes hq call the lower ones duplicates and throw them
// away: each sequence number is judged by whether it is stored. The
// gap is counted until it fills; the newest stays the digest.
func TestHigherSeqDoesNotSwallowLower(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	if w := post(s.Handler(), box, box.ID(), 1, summary(t, box, 1), nil); w.Code != 200 {
		t.Fatal(w.Body.String())
	}
	if w := post(s.Handler(), box, box.ID(), 10, summary(t, box, 10), nil); w.Code != 200 {
		t.Fatal(w.Body.String())
	}
	if b, _, _ := s.Box(box.ID()); b.Missing() != 8 {
		t.Fatalf("missing after 1, 10: %d", b.Missing())
	}
	for seq := uint64(5); seq < 10; seq++ {
		w := post(s.Handler(), box, box.ID(), seq, summary(t, box, seq), nil)
		if w.Code != 200 || strings.Contains(w.Body.String(), "duplicate") {
			t.Fatalf("seq %d after 10: %d %s", seq, w.Code, w.Body.String())
		}
	}
	seqs, _ := s.Seqs(box.ID())
	if fmt.Sprint(seqs) != "[1 5 6 7 8 9 10]" {
		t.Fatalf("stored %v", seqs)
	}
	b, _, _ := s.Box(box.ID())
	if b.LastSeq != 10 || b.Missing() != 3 || b.Summaries != 7 {
		t.Fatalf("box: last %d missing %d summaries %d", b.LastSeq, b.Missing(), b.Summaries)
	}
	v, _, _ := s.Site(box.ID(), 0, 100)
	if v.Latest == nil || v.Latest.Seq != 10 || len(v.History) != 7 || v.History[0].Seq != 10 {
		t.Fatalf("site view: latest %+v, history %+v", v.Latest, v.History)
	}
}

// TestPerBoxQuotaAndRetention: a box (say, with a stolen key) cannot
// make hq keep more than its quota: the oldest go, counted; a summary
// at or below what went is refused, not taken for new; a silent box's
// summaries age out by the receiver's clock.
func TestPerBoxQuotaAndRetention(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		s := newHQ(t, nil, hq.Limits{BoxSummaries: 5})
		box := newBox(t)
		s.Register(box.ID(), box.PublicKeyString(), "Acme")
		for seq := uint64(1); seq <= 8; seq++ {
			if w := post(s.Handler(), box, box.ID(), seq, summary(t, box, seq), nil); w.Code != 200 {
				t.Fatal(w.Body.String())
			}
		}
		seqs, _ := s.Seqs(box.ID())
		b, _, _ := s.Box(box.ID())
		if fmt.Sprint(seqs) != "[4 5 6 7 8]" || b.Stored != 5 || b.Floor != 3 || b.Summaries != 8 {
			t.Fatalf("kept %v, box %+v", seqs, b)
		}
		if w := post(s.Handler(), box, box.ID(), 2, summary(t, box, 2), nil); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "at or below seq 3") {
			t.Fatalf("seq 2 after it expired: %d %s", w.Code, w.Body.String())
		}
	})
	t.Run("bytes", func(t *testing.T) {
		s := newHQ(t, nil, hq.Limits{BoxBytes: hq.MaxBody})
		box := newBox(t)
		s.Register(box.ID(), box.PublicKeyString(), "Acme")
		noise := make([]byte, 768<<10)
		rand.Read(noise)
		for seq := uint64(1); seq <= 16; seq++ {
			body, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: box.ID()}, Seq: seq, Reason: base64.StdEncoding.EncodeToString(noise)})
			if w := post(s.Handler(), box, box.ID(), seq, body, nil); w.Code != 200 {
				t.Fatal(w.Body.String())
			}
		}
		b, _, _ := s.Box(box.ID())
		if b.StoredBytes > hq.MaxBody || b.Stored < 8 || b.Floor == 0 || b.LastSeq != 16 {
			t.Fatalf("kept %d summaries, %d bytes, floor %d", b.Stored, b.StoredBytes, b.Floor)
		}
	})
	t.Run("age", func(t *testing.T) {
		clk := clock.NewFake(time.Date(2031, 3, 1, 8, 0, 0, 0, time.UTC))
		s := newHQ(t, clk, hq.Limits{Retention: 24 * time.Hour})
		box := newBox(t)
		s.Register(box.ID(), box.PublicKeyString(), "Acme")
		for seq := uint64(1); seq <= 3; seq++ {
			post(s.Handler(), box, box.ID(), seq, summary(t, box, seq), nil)
		}
		clk.Advance(25 * time.Hour)
		if err := s.Sweep(); err != nil {
			t.Fatal(err)
		}
		seqs, _ := s.Seqs(box.ID())
		b, _, _ := s.Box(box.ID())
		if len(seqs) != 0 || b.Floor != 3 || b.LastSeq != 3 {
			t.Fatalf("after a day and an hour silent: kept %v, box %+v", seqs, b)
		}
	})
}

// TestRegisterBindsIDToKey: a box id is its key's name, so hq refuses a
// key under another box's id (a forged or mistyped receipt cannot take
// over a box), and a record holding another key (written before hq
// checked this) keeps it unless the replacement is asked for. Before
// the fix both were silently accepted.
func TestRegisterBindsIDToKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hq.db")
	s, err := hq.Open(path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	box, other := newBox(t), newBox(t)
	if _, err := s.Register(box.ID(), other.PublicKeyString(), "Acme"); err == nil || !strings.Contains(err.Error(), "is the key of box "+other.ID()) {
		t.Fatalf("another box's key under this id: %v", err)
	}
	if _, err := s.Register("ob-0000000000000000", box.PublicKeyString(), ""); err == nil {
		t.Fatal("a key under an id that is not its own")
	}
	reg, err := s.RegisterBox(hq.RegisterRequest{ID: box.ID(), Key: box.PublicKeyString(), Site: "Acme"})
	if err != nil || !reg.New || reg.KeyID != wire.KeyID(box.PublicKey()) {
		t.Fatalf("register: %+v %v", reg, err)
	}
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme\x1b[2J"); err == nil {
		t.Fatal("a site name with control characters")
	}
	s.Close()

	// A record from before: the box's id with another key.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		bb := tx.Bucket([]byte("boxes"))
		var rec map[string]any
		json.Unmarshal(bb.Get([]byte(box.ID())), &rec)
		rec["key"] = other.PublicKeyString()
		v, _ := json.Marshal(rec)
		return bb.Put([]byte(box.ID()), v)
	})
	db.Close()
	s, err = hq.Open(path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	oldID, newID := wire.KeyID(other.PublicKey()), wire.KeyID(box.PublicKey())
	if _, err := s.Register(box.ID(), box.PublicKeyString(), ""); err == nil || !strings.Contains(err.Error(), "registered with key id "+oldID) || !strings.Contains(err.Error(), newID) {
		t.Fatalf("silent key replacement: %v", err)
	}
	reg, err = s.RegisterBox(hq.RegisterRequest{ID: box.ID(), Key: box.PublicKeyString(), ReplaceKey: true})
	if err != nil || reg.OldKeyID != oldID || reg.KeyID != newID {
		t.Fatalf("--replace-key: %+v %v", reg, err)
	}
}

// TestFleetNeedsLogin: every page but the login form sends a browser
// without a session to log in; a wrong password gets no session; a
// session ends at logout everywhere; a receiver without accounts says
// how to make one (no default password, no first visitor as admin).
// Before the fix the pages were open to anyone who reached the port.
func TestFleetNeedsLogin(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme Dental")
	h := fleet(s, nil)
	for _, path := range []string{"/", "/boxes/" + box.ID()} {
		w := get(h, "http://hq.example"+path, nil)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Fatalf("%s without login: %d %s", path, w.Code, w.Header().Get("Location"))
		}
	}
	if w := get(h, "http://hq.example/login", nil); !strings.Contains(w.Body.String(), `data-testid="no-accounts"`) || !strings.Contains(w.Body.String(), "outpost hq user add") {
		t.Fatalf("login page without accounts:\n%s", w.Body.String())
	}
	if err := s.AddUser("alice", "short", false); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("a weak password: %v", err)
	}
	if err := s.AddUser("alice", testPassword, false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser("alice", testPassword+"x", false); err == nil {
		t.Fatal("add replaced an existing account")
	}
	w := get(h, "http://hq.example/login", nil)
	m := csrfField.FindStringSubmatch(w.Body.String())
	form := url.Values{"user": {"alice"}, "password": {"Wrong-Horse-99"}, "csrf": {m[1]}}
	r := httptest.NewRequest("POST", "http://hq.example/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || strings.Contains(w.Header().Get("Set-Cookie"), "outpost_hq_session=") {
		t.Fatalf("wrong password: %d %v", w.Code, w.Header()["Set-Cookie"])
	}
	cookies := login(t, h, "alice", testPassword)
	for _, c := range cookies {
		if c.Name == "outpost_hq_session" && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != int(12*time.Hour/time.Second)) {
			t.Fatalf("session cookie %+v", c)
		}
	}
	page := get(h, "http://hq.example/", cookies)
	if page.Code != 200 || !strings.Contains(page.Body.String(), "Acme Dental") || page.Header().Get("Content-Security-Policy") == "" || page.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("fleet page logged in: %d %v\n%s", page.Code, page.Header(), page.Body.String())
	}
	// Logout needs the session's own token, then ends the session.
	r = httptest.NewRequest("POST", "http://hq.example/logout", strings.NewReader("csrf=forged"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("logout with a forged token: %d", w.Code)
	}
	token := csrfField.FindStringSubmatch(page.Body.String())[1]
	r = httptest.NewRequest("POST", "http://hq.example/logout", strings.NewReader("csrf="+url.QueryEscape(token)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", w.Code, w.Body.String())
	}
	if w := get(h, "http://hq.example/", cookies); w.Code != http.StatusSeeOther {
		t.Fatalf("the session after logout: %d", w.Code)
	}
	// A deleted account's sessions end with it.
	cookies = login(t, h, "alice", testPassword)
	if err := s.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	if w := get(h, "http://hq.example/", cookies); w.Code != http.StatusSeeOther {
		t.Fatalf("a deleted user's session: %d", w.Code)
	}
}

// TestFleetHostAllowList: DNS rebinding (a page on the attacker's name,
// re-pointed at the receiver) carries the attacker's name in Host: every
// page answers 421 to a name it was not given. Before the fix any Host
// was served.
func TestFleetHostAllowList(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	s.AddUser("alice", testPassword, false)
	h := fleet(s, nil)
	cookies := login(t, h, "alice", testPassword)
	for host, want := range map[string]int{
		"rebind.attacker.example":      http.StatusMisdirectedRequest,
		"rebind.attacker.example:8445": http.StatusMisdirectedRequest,
		"hq.example.attacker.example":  http.StatusMisdirectedRequest,
		"":                             http.StatusMisdirectedRequest,
		"hq.example":                   200,
		"HQ.Example.:8445":             200,
		"127.0.0.1:8445":               200,
		"[::1]:8445":                   200,
		"localhost:8445":               200,
	} {
		for _, path := range []string{"/", "/login", "/hq.css"} {
			r := httptest.NewRequest("GET", path, nil)
			r.Host = host
			for _, c := range cookies {
				r.AddCookie(c)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if (w.Code == http.StatusMisdirectedRequest) != (want == http.StatusMisdirectedRequest) {
				t.Errorf("Host %q %s: %d, want %d", host, path, w.Code, want)
			}
		}
	}
}

// TestLoginLimits: wrong passwords sent in parallel are counted before
// bcrypt runs, so no more get through than the limit (the box's open
// item); an unknown user name costs the same bcrypt; and many addresses
// trying one account are stopped by its per-user limit.
func TestLoginLimits(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	s.AddUser("alice", testPassword, false)
	h := fleet(s, nil)
	w := get(h, "http://hq.example/login", nil)
	token := csrfField.FindStringSubmatch(w.Body.String())[1]
	pre := w.Result().Cookies()
	try := func(addr, user, pw string) int {
		form := url.Values{"user": {user}, "password": {pw}, "csrf": {token}}
		r := httptest.NewRequest("POST", "http://hq.example/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = addr + ":40000"
		for _, c := range pre {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	var wg sync.WaitGroup
	var unauthorized, limited atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch try("192.0.2.1", "alice", "Wrong-Horse-99") {
			case http.StatusUnauthorized:
				unauthorized.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if unauthorized.Load() != 5 || limited.Load() != 15 {
		t.Fatalf("20 parallel wrong passwords from one address: %d checked, %d limited (want 5, 15)", unauthorized.Load(), limited.Load())
	}
	if code := try("192.0.2.1", "alice", testPassword); code != http.StatusTooManyRequests {
		t.Fatalf("the right password from a blocked address: %d", code)
	}
	// Other addresses, one account: 10 failures in 15 minutes block it.
	for i := range 5 {
		try("198.51.100."+strconv.Itoa(i+1), "alice", "Wrong-Horse-99")
	}
	if code := try("203.0.113.9", "alice", testPassword); code != http.StatusTooManyRequests {
		t.Fatalf("alice after 10 failures from 6 addresses: %d", code)
	}
	if code := try("203.0.113.9", "nobody", "Wrong-Horse-99"); code != http.StatusUnauthorized {
		t.Fatalf("an unknown user: %d", code)
	}
}

// TestSitePageDecodesNoSummary: a site's page renders from the digest
// and the index kept at ingest. Before the fix it decoded its 200 newest
// summaries on every request: 41,946 allocations for summaries with 50
// open incidents each.
func TestSitePageDecodesNoSummary(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	var incs []wire.Incident
	for i := range 50 {
		incs = append(incs, wire.Incident{ID: uint64(i + 1), Check: "disk-" + strconv.Itoa(i), Device: "nas", Severity: "critical", State: "open", Summary: "down", Opened: time.Now(),
			Timeline: []wire.TimelineEntry{{Time: time.Now(), Kind: "opened", Text: strings.Repeat("x", 200)}}})
	}
	for seq := uint64(1); seq <= 300; seq++ {
		body, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: box.ID(), Site: "Acme"}, Seq: seq, Time: time.Now(), Reason: "interval", Interval: 60, OpenIncidents: incs})
		if w := post(s.Handler(), box, box.ID(), seq, body, nil); w.Code != 200 {
			t.Fatal(w.Body.String())
		}
	}
	s.AddUser("alice", testPassword, false)
	h := fleet(s, nil)
	cookies := login(t, h, "alice", testPassword)
	page := get(h, "http://hq.example/boxes/"+box.ID(), cookies).Body.String()
	if strings.Count(page, "<td>interval</td>") != 200 || !strings.Contains(page, "disk-49") {
		t.Fatalf("site page lacks its history or open incidents:\n%.2000s", page)
	}
	allocs := testing.AllocsPerRun(5, func() { get(h, "http://hq.example/boxes/"+box.ID(), cookies) })
	t.Logf("site page: %.0f allocations per request", allocs)
	if allocs > 8000 {
		t.Fatalf("site page: %.0f allocations per request", allocs)
	}
}

// TestSessionsStoredAsHashes: the store file holds no session token.
func TestSessionsStoredAsHashes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hq.db")
	s, err := hq.Open(path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.AddUser("alice", testPassword, false)
	var token string
	for _, c := range login(t, fleet(s, nil), "alice", testPassword) {
		if c.Name == "outpost_hq_session" {
			token = c.Value
		}
	}
	s.Close()
	raw, _ := os.ReadFile(path)
	if token == "" || bytes.Contains(raw, []byte(token)) || bytes.Contains(raw, []byte(testPassword)) {
		t.Fatalf("token %q or the password is in the store file", token)
	}
}

// TestOldStoreIndexed: a store written before the index and digests
// existed is indexed once at Open; its pages then render from them.
func TestOldStoreIndexed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hq.db")
	s, err := hq.Open(path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	for seq := uint64(1); seq <= 3; seq++ {
		post(s.Handler(), box, box.ID(), seq, summary(t, box, seq), nil)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"index", "latest", "meta"} {
			tx.DeleteBucket([]byte(b))
		}
		return nil
	})
	db.Close()
	s, err = hq.Open(path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, ok, err := s.Site(box.ID(), 0, 10)
	if err != nil || !ok || len(v.History) != 3 || v.Latest == nil || v.Latest.Seq != 3 || v.Stored != 3 {
		t.Fatalf("after indexing: %+v %v", v, err)
	}
	body := summary(t, box, 2)
	if w := post(s.Handler(), box, box.ID(), 2, body, nil); w.Code != http.StatusConflict {
		t.Fatalf("other content under an indexed seq: %d %s", w.Code, w.Body.String())
	}
}

// TestRefusalsLogBounded: a flood of refused requests writes a bounded
// number of log lines (60 a minute, then a count), so it cannot fill
// the receiver's disk through its log.
func TestRefusalsLogBounded(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	s, err := hq.OpenWith(filepath.Join(t.TempDir(), "hq.db"), hq.Options{Log: slogTo(&logs, &mu)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	signer := newBox(t)
	for range 500 {
		_, id := stranger(t)
		post(s.Handler(), signer, id, 1, []byte("x"), nil)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "summary refused"); n != 60 {
		t.Fatalf("500 refusals wrote %d log lines, want 60", n)
	}
}

// TestBoxTextIsPlain: what a box says about itself reaches pages, logs
// and `hq list` on a terminal without control characters.
func TestBoxTextIsPlain(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	body, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: box.ID(), Site: "Acme\x1b]0;pwned\a\x1b[2J", Version: strings.Repeat("v", 300)}, Seq: 1, Reason: "start"})
	if w := post(s.Handler(), box, box.ID(), 1, body, nil); w.Code != 200 {
		t.Fatal(w.Body.String())
	}
	b, _, _ := s.Box(box.ID())
	if b.Site != "Acme]0;pwned[2J" || len(b.Version) > 210 {
		t.Fatalf("site %q, version of %d bytes", b.Site, len(b.Version))
	}
}
