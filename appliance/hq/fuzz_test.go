package hq_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome/wire"
)

// FuzzIngest sends the real ingest handler arbitrary headers and bodies,
// signed by the registered box's key when sign is set (so the fuzzer
// reaches decompression, decoding and storing). It must never panic or
// fail inside (500), answer only the documented codes, and acknowledge
// only the sequence number asked about, storing exactly what was sent.
func FuzzIngest(f *testing.F) {
	s := newHQ(f, nil, hq.Limits{})
	box := newBox(f)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		f.Fatal(err)
	}
	// A command pending, so replies carry it and summaries may confirm it.
	if _, err := s.Queue(box.ID(), hq.QueueRequest{Bundle: []byte("bundle"), What: "bundle v1"}); err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	at := time.Date(2031, 3, 1, 8, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	good := summary(f, box, 1)
	f.Add(box.ID(), "1", at, "", true, good)
	f.Add(box.ID(), "2", at, "", true, summary(f, box, 2))
	f.Add(box.ID(), "1", at, "", true, summary(f, box, 1)) // other content under seq 1
	f.Add(box.ID(), "1", at, "AAAA", false, good)
	f.Add(box.ID(), "3", at, "", true, gz([]byte(`{"schema":"outpost-summary/1","box":{"id":"`+box.ID()+`"},"seq":3,"open_incidents":[{"id":1,"timeline":[{}]}]}`)))
	f.Add(box.ID(), "4", at, "", true, []byte("not gzip"))
	f.Add(box.ID(), "5", at, "", true, gz([]byte(`{"schema":"outpost-summary/1","box":{"id":"`+box.ID()+`"},"seq":5,"commands":[{"id":1,"result":"done","detail":"\u001b[2J"},{"id":1,"result":"what"},{"id":18446744073709551615}]}`)))
	f.Add(box.ID(), "18446744073709551615", at, "", true, gz([]byte(`{"schema":"outpost-summary/1","box":{"id":"`+box.ID()+`"},"seq":18446744073709551615}`)))
	f.Add("ob-0000000000000000", "1", at, "", false, good)
	f.Add("", "", "", "", false, []byte{})
	f.Add(box.ID(), "0", "yesterday", "%%%", true, []byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, id, seqHeader, at, sig string, sign bool, body []byte) {
		r := httptest.NewRequest("POST", "/v1/summaries", bytes.NewReader(body))
		seq, seqErr := strconv.ParseUint(seqHeader, 10, 64)
		if sign && seqErr == nil {
			sig = base64.StdEncoding.EncodeToString(box.Sign(wire.SignedBytes(id, seq, at, body)))
		}
		r.Header.Set(wire.HeaderBox, id)
		r.Header.Set(wire.HeaderSeq, seqHeader)
		r.Header.Set(wire.HeaderTime, at)
		r.Header.Set(wire.HeaderSignature, sig)
		r.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(id, seq))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			var rep wire.Reply
			if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil || rep.Ack != seq || id != box.ID() {
				t.Fatalf("200 for box %q seq %q: %s", id, seqHeader, w.Body.String())
			}
			if rep.Duplicate {
				return
			}
			sums, err := s.Summaries(id, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, sm := range sums {
				found = found || sm.Seq == seq
			}
			if !found {
				t.Fatalf("acknowledged seq %d is not stored", seq)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict, http.StatusLengthRequired,
			http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		default:
			t.Fatalf("answered %d: %s", w.Code, w.Body.String())
		}
	})
}

// FuzzAckPage sends the acknowledge pages (no login, on the internet)
// arbitrary methods, links, names and origins: never a panic or a 500,
// only the documented answers, and at most maxPendingAcks waiting.
func FuzzAckPage(f *testing.F) {
	s := newHQ(f, nil, hq.Limits{})
	box := newBox(f)
	if _, err := s.Register(box.ID(), box.PublicKeyString(), "Acme"); err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	tok := linkToken(7, time.Now().Add(time.Hour))
	f.Add("GET", box.ID(), tok, "bob", "")
	f.Add("POST", box.ID(), tok, "bob\x00\x1b[2J", "")
	f.Add("POST", box.ID(), tok, "", "https://evil.example")
	f.Add("POST", "ob-0000000000000000", tok, "x", "")
	f.Add("POST", box.ID(), "%%%", "x", "null")
	f.Add("DELETE", box.ID(), tok, "", "")
	f.Fuzz(func(t *testing.T, method, id, token, by, origin string) {
		if method != "GET" && method != "POST" && method != "DELETE" {
			return
		}
		target := "https://hq.example" + "/ack/" + url.PathEscape(id) + "/" + url.PathEscape(token)
		r, err := http.NewRequest(method, target, strings.NewReader(url.Values{"by": {by}}.Encode()))
		if err != nil {
			return
		}
		r.RemoteAddr = "192.0.2.1:1"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusSeeOther, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
			http.StatusMethodNotAllowed, http.StatusTooManyRequests, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
		default:
			t.Fatalf("%s %s answered %d: %s", method, target, w.Code, w.Body.String())
		}
		b, _, _ := s.Box(box.ID())
		if n := b.PendingCommands(); n > 5 {
			t.Fatalf("%d acknowledgements waiting", n)
		}
	})
}
