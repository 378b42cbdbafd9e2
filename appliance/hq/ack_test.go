package hq_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
	"outpost/firmware/identity"
)

// linkToken is shaped like a box's acknowledge token (incident, expiry,
// a MAC hq cannot check).
func linkToken(incident uint64, expires time.Time) string {
	b := make([]byte, 48)
	binary.BigEndian.PutUint64(b, incident)
	binary.BigEndian.PutUint64(b[8:], uint64(expires.Unix()))
	rand.Read(b[16:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// withIncident is summary seq with incident 7 open, three checks behind
// their schedule, and the results of commands ids.
func withIncident(t *testing.T, id *identity.Identity, seq uint64, results ...wire.CommandResult) []byte {
	t.Helper()
	s := wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: id.ID(), Site: "Acme"}, Seq: seq, Time: time.Now(), Reason: "interval", Interval: 60,
		OpenIncidents: []wire.Incident{{ID: 7, Check: "db-port", Device: "db", Severity: "critical", State: "open", Summary: "connection refused", Opened: time.Now()}},
		BoxHealth:     wire.BoxHealth{ChecksBehind: 3}, Commands: results}
	b, err := wire.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ackPost(h http.Handler, path, origin, addr, by string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "https://hq.example:8444"+path, strings.NewReader(url.Values{"by": {by}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if addr != "" {
		r.RemoteAddr = addr
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestAckLinkRelayedToBox: with a public URL every reply names hq's
// acknowledge pages; a link's page shows the incident from the box's
// newest summary, a POST from the page queues an ack command carrying
// the token (once, however often it is pressed), the command goes with
// the replies until the box confirms it, and the page then shows what
// the box said. A POST from another site's page, a damaged link, more
// than 5 waiting acknowledgements and more than 10 posts a minute from
// one address are refused.
func TestAckLinkRelayedToBox(t *testing.T) {
	s, err := hq.OpenWith(filepath.Join(t.TempDir(), "hq.db"), hq.Options{Log: quiet(), PublicURL: "https://hq.example:8444/"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := hq.OpenWith(filepath.Join(t.TempDir(), "hq.db"), hq.Options{Log: quiet(), PublicURL: "http://hq.example"}); err == nil {
		t.Fatal("a plain http public URL was taken")
	}
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	h := s.Handler()
	rep := replyOf(t, post(h, box, box.ID(), 1, withIncident(t, box, 1), nil))
	if rep.AckBase != "https://hq.example:8444" {
		t.Fatalf("reply names ack pages %q", rep.AckBase)
	}
	tok := linkToken(7, time.Now().Add(time.Hour))
	path := wire.AckPath(box.ID(), tok)
	w := get(h, "https://hq.example:8444"+path, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `data-state="form"`) || !strings.Contains(w.Body.String(), "db-port on db") ||
		w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Referrer-Policy") != "same-origin" {
		t.Fatalf("link page: %d %v\n%s", w.Code, w.Header(), w.Body.String())
	}
	if w := ackPost(h, path, "https://evil.example", "", "bob"); w.Code != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d %s", w.Code, w.Body.String())
	}
	if w := get(h, "https://hq.example:8444"+wire.AckPath(box.ID(), "not-a-token"), nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "damaged") {
		t.Fatalf("damaged link: %d %s", w.Code, w.Body.String())
	}
	for range 2 {
		if w := ackPost(h, path, "https://hq.example:8444", "", "bob\x1b[2J"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != path {
			t.Fatalf("POST: %d %s", w.Code, w.Body.String())
		}
	}
	rep = replyOf(t, post(h, box, box.ID(), 2, withIncident(t, box, 2), nil))
	if len(rep.Commands) != 1 || rep.Commands[0].Ack == nil || *rep.Commands[0].Ack != (wire.Ack{Via: wire.AckViaLink, Token: tok, Incident: 7, By: "bob[2J"}) {
		t.Fatalf("reply commands: %+v", rep.Commands)
	}
	if w := get(h, "https://hq.example:8444"+path, nil); !strings.Contains(w.Body.String(), `data-state="pending"`) {
		t.Fatalf("page while pending:\n%s", w.Body.String())
	}
	done := wire.CommandResult{ID: rep.Commands[0].ID, Kind: wire.KindAck, Result: wire.CommandDone, Detail: "incident 7 (db-port on db) acknowledged by bob via hq (link)", Time: time.Now()}
	if rep := replyOf(t, post(h, box, box.ID(), 3, withIncident(t, box, 3, done), nil)); len(rep.Commands) != 0 {
		t.Fatalf("still sent after the box confirmed it: %+v", rep.Commands)
	}
	if w := get(h, "https://hq.example:8444"+path, nil); !strings.Contains(w.Body.String(), `data-state="done"`) || !strings.Contains(w.Body.String(), "Acknowledged (relayed)") {
		t.Fatalf("page once confirmed:\n%s", w.Body.String())
	}

	for i := range 5 {
		if w := ackPost(h, wire.AckPath(box.ID(), linkToken(uint64(20+i), time.Now().Add(time.Hour))), "", "198.51.100.1:1", "x"); w.Code != http.StatusSeeOther {
			t.Fatalf("ack %d: %d", i, w.Code)
		}
	}
	if w := ackPost(h, wire.AckPath(box.ID(), linkToken(30, time.Now().Add(time.Hour))), "", "198.51.100.1:1", "x"); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "already wait") {
		t.Fatalf("a sixth waiting acknowledgement: %d %s", w.Code, w.Body.String())
	}
	for i := range 10 {
		if w := ackPost(h, wire.AckPath(box.ID(), "damaged"), "", "198.51.100.2:1", "x"); w.Code != http.StatusNotFound {
			t.Fatalf("post %d from one address: %d", i, w.Code)
		}
	}
	if w := ackPost(h, wire.AckPath(box.ID(), "damaged"), "", "198.51.100.2:1", "x"); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "your address") {
		t.Fatalf("an eleventh post a minute from one address: %d %s", w.Code, w.Body.String())
	}
}

// TestSitePageAcknowledgesAndShowsBehind: a logged-in user acknowledges
// an open incident from the site's page (their user name is who); one
// the box's newest summary does not list open is refused. The page
// shows the checks missing their schedule from the box's health.
func TestSitePageAcknowledgesAndShowsBehind(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	replyOf(t, post(s.Handler(), box, box.ID(), 1, withIncident(t, box, 1), nil))
	if err := s.AddUser("alice", testPassword, false); err != nil {
		t.Fatal(err)
	}
	f := fleet(s, nil)
	cookies := login(t, f, "alice", testPassword)
	page := get(f, "http://hq.example/boxes/"+box.ID(), cookies).Body.String()
	if !strings.Contains(page, `data-testid="behind"`) || !strings.Contains(page, "3 checks missing their schedule") {
		t.Fatalf("site page without the checks behind:\n%s", page)
	}
	csrf := csrfField.FindStringSubmatch(page)
	ack := func(incident string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://hq.example/boxes/"+box.ID()+"/incidents/"+incident+"/ack", strings.NewReader(url.Values{"csrf": {csrf[1]}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		f.ServeHTTP(w, r)
		return w
	}
	if w := ack("99"); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "not open") {
		t.Fatalf("ack of an incident not open: %d %s", w.Code, w.Body.String())
	}
	if w := ack("7"); w.Code != http.StatusSeeOther {
		t.Fatalf("ack: %d %s", w.Code, w.Body.String())
	}
	rep := replyOf(t, post(s.Handler(), box, box.ID(), 2, withIncident(t, box, 2), nil))
	if len(rep.Commands) != 1 || *rep.Commands[0].Ack != (wire.Ack{Via: wire.AckViaUser, Incident: 7, By: "alice"}) {
		t.Fatalf("reply commands: %+v", rep.Commands)
	}
	if page := get(f, "http://hq.example/boxes/"+box.ID(), cookies).Body.String(); !strings.Contains(page, "relayed, waiting for the box") {
		t.Fatalf("site page while pending:\n%s", page)
	}
}
