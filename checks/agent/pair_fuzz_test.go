package agent

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"outpost/checks/agent/wire"
	"outpost/store"
)

// FuzzPairRequest feeds arbitrary pairing requests to the box's pairing
// endpoint while a code is pending: it must never panic, never answer
// anything but 200, 400, 403, 405 or 429, never let a confirmation pass
// (nothing here knows the code), never record a pairing, and keep its
// open exchanges bounded.
func FuzzPairRequest(f *testing.F) {
	st, err := store.Open(filepath.Join(f.TempDir(), "outpost.db"), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	c, err := New(Options{Store: st, Site: "fuzz", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PairTLSFingerprint: "sha256:pair"})
	if err != nil {
		f.Fatal(err)
	}
	c.SetPeers([]Peer{{Name: "srv1"}})
	code, _, err := c.NewPairCode("srv1")
	if err != nil {
		f.Fatal(err)
	}
	handle := code[:3]
	// Seeds: a valid start (right handle, wrong code), and its confirm.
	agentCert := mustCert(f)
	_, start, err := wire.StartPairing(handle+"-000-000", wire.PairInfo{Hostname: "h", OS: "linux", Listen: ":8471", Cert: agentCert, PairTLS: "sha256:pair"})
	if err != nil {
		f.Fatal(err)
	}
	startJSON, _ := json.Marshal(start)
	f.Add(startJSON, uint8(1))
	f.Add([]byte(`{"version":2,"step":"confirm","session":"00","confirm":"AAAA"}`), uint8(2))
	f.Add([]byte(`{"version":1,"proof":"00","cert":"AAAA"}`), uint8(3))
	f.Add([]byte(`{"version":2,"step":"start","handle":"`+handle+`","sid":"AAAAAAAAAAAAAAAAAAAAAA==","share":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`), uint8(4))
	f.Add([]byte(`{`), uint8(5))
	h := c.PairHandler()
	f.Fuzz(func(t *testing.T, body []byte, from uint8) {
		req := httptest.NewRequest("POST", wire.PathPair, bytes.NewReader(body))
		req.TLS = &tls.ConnectionState{}
		req.RemoteAddr = fmt.Sprintf("192.0.2.%d:4000", from)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			var pr wire.PairRequest
			if json.Unmarshal(body, &pr) != nil || pr.Step != wire.PairStart {
				t.Fatalf("200 to a request that is no start: %q -> %s", body, rec.Body)
			}
		case 400, 403, 405, 429:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if _, ok, _ := st.GetAgent("srv1"); ok {
			t.Fatalf("a pairing was recorded without the code, from %q", body)
		}
		c.mu.Lock()
		n := len(c.sessions)
		c.mu.Unlock()
		if n > maxPairSessions {
			t.Fatalf("%d open exchanges", n)
		}
	})
}

func mustCert(tb testing.TB) []byte {
	tb.Helper()
	p, err := wire.NewIdentity("fuzz agent")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := wire.LoadIdentity(p)
	if err != nil {
		tb.Fatal(err)
	}
	return c.Certificate[0]
}
