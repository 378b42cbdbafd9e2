//go:build linux

package agent

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/agent/wire"
)

// The attacks of the security issue, each against a real agent process.

// TestBoxIdentityCannotWidenAllowList: whoever holds the box's agent
// identity pushes an allow-list with a shell and asks the agent to run it.
func TestBoxIdentityCannotWidenAllowList(t *testing.T) {
	r := paired(t)
	ctx := context.Background()
	rec, _, _ := r.st.GetAgent("srv1")
	cn := r.conn(t, rec)
	pwned := filepath.Join(t.TempDir(), "pwned")
	evil := wire.Policy{Services: []string{"sshd"}, Scripts: []wire.Script{{Name: "evil", Command: "/bin/sh", Args: []string{"-c", "id > " + pwned}}}}
	var got wire.Policy
	r.c.send(ctx, "srv1", cn, http.MethodPut, wire.PathPolicy, evil, &got)
	var res wire.CommandResult
	err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, wire.Command{Action: "script", Target: "evil", Nonce: newNonce(), Time: time.Now()}, &res)
	if _, serr := os.Stat(pwned); serr == nil {
		t.Fatalf("the agent ran /bin/sh -c id for the box: %+v %v", res, err)
	}
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("script outside the server's allow-list: %+v %v", res, err)
	}
	err = r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, wire.Command{Action: "restart", Target: "sshd", Nonce: newNonce(), Time: time.Now()}, &res)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("service outside the server's allow-list: %+v %v", res, err)
	}
}

// TestEventLogCannotReadAnyFile: an event-log query for /etc/shadow, with
// a cursor that makes the agent read it from the start.
func TestEventLogCannotReadAnyFile(t *testing.T) {
	r := paired(t)
	a, err := r.c.Query(context.Background(), "srv1", wire.Query{Kind: wire.QueryEventLog, Events: &wire.EventQuery{Log: "/etc/shadow", Cursor: "x:0", Pattern: "."}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Events != nil && a.Events.Count > 0 {
		t.Fatalf("the agent read /etc/shadow for the box: %d lines, first %q", a.Events.Count, a.Events.Entries[0].Message)
	}
	if !strings.Contains(a.Error, "allow-list") {
		t.Fatalf("want a refusal naming the allow-list: %+v", a)
	}
}

// TestFakeBoxCannotPair: a box impostor (a machine answering at the
// box's address) answers the agent's pairing without knowing the code:
// with a version 1 answer, and by running the exchange with a guessed
// code. The agent must pin neither.
func TestFakeBoxCannotPair(t *testing.T) {
	idPEM, _ := wire.NewIdentity("impostor")
	id, _ := wire.LoadIdentity(idPEM)
	code := "123-456-789"
	strategies := map[string]http.HandlerFunc{
		"version 1 answer": func(w http.ResponseWriter, req *http.Request) {
			io.Copy(io.Discard, req.Body)
			writeJSON(w, 200, map[string]any{"version": wire.Version, "name": "srv1", "site": "evil", "box_cert": id.Certificate[0],
				"policy": wire.Policy{Scripts: []wire.Script{{Name: "x", Command: "/bin/sh", Args: []string{"-c", "id"}}}}})
		},
	}
	var bp *wire.BoxPairing
	var ts *httptest.Server
	strategies["exchange with a guessed code"] = func(w http.ResponseWriter, req *http.Request) {
		var pr wire.PairRequest
		json.NewDecoder(req.Body).Decode(&pr)
		if pr.Step == wire.PairStart {
			var ch wire.PairChallenge
			var err error
			bp, ch, err = wire.AnswerPairing(pr.Handle+"000000", pr, wire.Fingerprint(ts.Certificate().Raw), id.Certificate[0], "s")
			if err != nil {
				writeJSON(w, 400, wire.Error{Error: err.Error()})
				return
			}
			writeJSON(w, 200, ch)
			return
		}
		// Whatever the agent's confirmation, answer as if it held.
		acc, _ := bp.Accept(wire.PairResponse{Name: "srv1", Site: "evil"})
		writeJSON(w, 200, acc)
	}
	for name, h := range strategies {
		t.Run(name, func(t *testing.T) {
			r := newBox(t)
			ts = httptest.NewTLSServer(h)
			t.Cleanup(ts.Close)
			r.pairTS = ts
			line := r.startAgent(t, code)
			if r.addr != "" || !strings.Contains(line, "pair error") {
				t.Fatalf("the agent paired with a box that does not know the code: %q", line)
			}
			t.Log(line)
			data, _ := os.ReadFile(filepath.Join(r.data, "agent-state.json"))
			if bytes.Contains(data, []byte(wire.Fingerprint(id.Certificate[0]))) {
				t.Fatalf("the impostor's key was pinned: %s", data)
			}
		})
	}
}

// recordPairing wraps the box's pairing endpoint to keep every request
// and answer, as a machine in between (or a TLS-terminating proxy the
// agent trusted without --box-fingerprint) sees them.
func recordPairing(t *testing.T, r *rig) *[][]byte {
	t.Helper()
	var log [][]byte
	mux := http.NewServeMux()
	h := r.c.PairHandler()
	mux.HandleFunc(wire.PathPair, func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		log = append(log, body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		log = append(log, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
	r.pairTS.Config.Handler = mux
	return &log
}

// TestPairingTranscriptRevealsNoCode: someone captured a whole pairing
// (all four messages, in the clear). The old HMAC proof let every
// six-digit code be tried offline in about a second; now nothing in the
// exchange can be checked against a guess, not even the right code: the
// values that depend on the code also depend on one-time secrets of
// either side (checking a guess needs a Diffie-Hellman solution), so an
// eavesdropper learns nothing and an impostor gets one guess per
// exchange, which the box counts.
func TestPairingTranscriptRevealsNoCode(t *testing.T) {
	r := newBox(t)
	transcript := recordPairing(t, r)
	code, _, err := r.c.NewPairCode("srv1")
	if err != nil {
		t.Fatal(err)
	}
	if line := r.startAgent(t, code); r.addr == "" {
		t.Fatalf("agent did not pair: %q", line)
	}
	msgs := *transcript
	if len(msgs) != 4 {
		t.Fatalf("captured %d messages, want 4", len(msgs))
	}
	var start, confirm wire.PairRequest
	var ch wire.PairChallenge
	var acc wire.PairAccepted
	for i, v := range []any{&start, &ch, &confirm, &acc} {
		if err := json.Unmarshal(msgs[i], v); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	boxTLS := wire.Fingerprint(r.pairTS.Certificate().Raw)
	// 1. Every value in the transcript against every code, the v1 way.
	values := map[string]bool{}
	for _, v := range [][]byte{start.Share, start.Sid, ch.Share, confirm.Confirm, acc.Confirm} {
		values[hex.EncodeToString(v)] = true
		if len(v) > 32 {
			values[hex.EncodeToString(v[:32])] = true
		}
	}
	handle := start.Handle
	t0 := time.Now()
	for n := 0; n < 1_000_000; n++ {
		if values[legacyProof(fmt.Sprintf("%s%06d", handle, n), start.Cert, boxTLS)] {
			t.Fatalf("a transcript value is an HMAC of code %s%06d", handle, n)
		}
	}
	t.Logf("no transcript value matched any of 10^6 codes (%s)", time.Since(t0).Round(time.Millisecond))
	// 2. Knowing the right code does not confirm it against the
	// transcript either: replaying the box's side with the code gives
	// another key, and the agent's captured confirmation does not check.
	bp, _, err := wire.AnswerPairing(code, start, boxTLS, ch.BoxCert, ch.Session)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Check(confirm) {
		t.Fatal("the captured confirmation checks against the code without the box's secret")
	}
	// ... and replaying the agent's side gives another share and no way
	// to reproduce the captured confirmation.
	ap, again, err := wire.StartPairing(code, wire.PairInfo{Hostname: start.Hostname, OS: start.OS, Listen: start.Listen, Cert: start.Cert, PairTLS: boxTLS})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again.Share, start.Share) {
		t.Fatal("the agent's share depends on the code alone")
	}
	if c2, err := ap.Confirm(ch); err == nil && bytes.Equal(c2.Confirm, confirm.Confirm) {
		t.Fatal("the agent's confirmation depends on the code alone")
	}
}

// attackerClient talks to the box from another loopback address, as a
// second host on the LAN would.
func attackerClient(ip byte) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, ip)}}).DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
}

func post(t *testing.T, c *http.Client, url string, body any) (int, []byte) {
	t.Helper()
	data, ok := body.([]byte)
	if !ok {
		data, _ = json.Marshal(body)
	}
	resp, err := c.Post(url+wire.PathPair, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// tryCode runs the agent's side of the exchange with code, as an attacker
// guessing it would; it returns the box's final status and answer.
func tryCode(t *testing.T, c *http.Client, r *rig, code string) (int, string) {
	t.Helper()
	idPEM, _ := wire.NewIdentity("attacker")
	id, _ := wire.LoadIdentity(idPEM)
	ap, start, err := wire.StartPairing(code, wire.PairInfo{Cert: id.Certificate[0], PairTLS: wire.Fingerprint(r.pairTS.Certificate().Raw)})
	if err != nil {
		t.Fatal(err)
	}
	st, out := post(t, c, r.pairTS.URL, start)
	if st != 200 {
		return st, string(out)
	}
	var ch wire.PairChallenge
	json.Unmarshal(out, &ch)
	confirm, err := ap.Confirm(ch)
	if err != nil {
		t.Fatal(err)
	}
	st, out = post(t, c, r.pairTS.URL, confirm)
	return st, string(out)
}

// TestBogusPairingKeepsTheCode: LAN hosts send garbage, wrong handles,
// version 1 proofs, unknown sessions and up to four wrong codes; the
// technician's pending code still pairs the real agent, and the flood is
// rate-limited. Five wrong codes void that one code, and the box logs
// it.
func TestBogusPairingKeepsTheCode(t *testing.T) {
	r := newBox(t)
	code, _, err := r.c.NewPairCode("srv1")
	if err != nil {
		t.Fatal(err)
	}
	idPEM, _ := wire.NewIdentity("attacker")
	id, _ := wire.LoadIdentity(idPEM)
	flood := attackerClient(2)
	limited := 0
	for i := 0; i < 30; i++ {
		var body any
		switch i % 4 {
		case 0:
			body = []byte("{not json")
		case 1:
			body = map[string]any{"version": 1, "hostname": "x", "cert": id.Certificate[0], "proof": strings.Repeat("0", 64)}
		case 2:
			wrongHandle := fmt.Sprintf("%03d", (i*37)%1000)
			if wrongHandle == code[:3] {
				wrongHandle = "xyz"
			}
			body = map[string]any{"version": wire.Version, "step": "start", "handle": wrongHandle, "cert": id.Certificate[0], "sid": make([]byte, 16), "share": bytes.Repeat([]byte{9}, 32)}
		case 3:
			body = map[string]any{"version": wire.Version, "step": "confirm", "session": "0123", "confirm": make([]byte, 64)}
		}
		st, out := post(t, flood, r.pairTS.URL, body)
		if st == 200 {
			t.Fatalf("bogus pairing request %d accepted: %s", i, out)
		}
		if st == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 15 {
		t.Fatalf("only %d of 30 bogus requests were rate-limited", limited)
	}
	guesser := attackerClient(3)
	for i := 0; i < maxPairFailures-1; i++ {
		if st, out := tryCode(t, guesser, r, code[:4]+fmt.Sprintf("%03d-%03d", i, i+1)); st != 403 || !strings.Contains(out, "pair code wrong") {
			t.Fatalf("wrong code %d: %d %s", i, st, out)
		}
	}
	if line := r.startAgent(t, code); r.addr == "" {
		t.Fatalf("bogus requests voided the technician's pair code: %q", line)
	}

	// Five wrong codes for one handle void that code (and only it).
	code, _, _ = r.c.NewPairCode("srv1")
	for i := 0; i < maxPairFailures; i++ {
		tryCode(t, attackerClient(byte(4+i)), r, code[:4]+fmt.Sprintf("%03d-%03d", i, i+1))
	}
	if !strings.Contains(r.logs.String(), "agent pair code voided") {
		t.Fatalf("the box did not log the voided code:\n%s", r.logs.String())
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.data = t.TempDir()
	if line := r.startAgent(t, code); r.addr != "" || !strings.Contains(line, "pair code wrong") {
		t.Fatalf("a voided code paired: %q", line)
	}
}

// TestOfflineRevokedAgentRefusesBox: the agent is down when the box
// revokes it; when it comes back it must stop trusting the box's key.
func TestOfflineRevokedAgentRefusesBox(t *testing.T) {
	r := paired(t)
	ctx := context.Background()
	rec, _, _ := r.st.GetAgent("srv1")
	oldKey := r.boxKey(t, "srv1")
	r.cmd.Process.Kill()
	r.cmd.Wait()
	told, err := r.c.Revoke(ctx, "srv1")
	if err != nil || told {
		t.Fatalf("revoke while the agent is down: told=%v %v", told, err)
	}
	// The key the box presented to this agent is gone from the store.
	if key, err := r.st.GetBlob(identityBlob("srv1")); err != nil || len(key) != 0 {
		t.Fatalf("the revoked pairing's key is still in the store: %d bytes, %v", len(key), err)
	}
	if list, _ := r.c.Status(); len(list) != 1 || !list[0].RevocationPending {
		t.Fatalf("status before delivery: %+v", list)
	}
	// While the agent is still down, the box's round fails quietly.
	r.c.RefreshInventory(ctx, 24*time.Hour)
	r.listen = rec.Address
	if line := r.startAgent(t, ""); r.addr != rec.Address {
		t.Fatalf("agent did not come back at %s: %q", rec.Address, line)
	}
	// The box retries what it could not deliver on its next round.
	r.c.RefreshInventory(ctx, 24*time.Hour)
	old := &conn{fp: rec.CertFingerprint, addr: rec.Address, http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{oldKey}, InsecureSkipVerify: true, VerifyConnection: wire.VerifyPinned("agent", rec.CertFingerprint)}}}}
	var info wire.Info
	err = r.c.send(ctx, "srv1", old, "GET", wire.PathInfo, nil, &info)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not paired") {
		t.Fatalf("the revoked agent still obeys the box's old key: %+v %v", info, err)
	}
	if list, _ := r.c.Status(); list[0].RevocationPending {
		t.Fatalf("status after delivery: %+v", list)
	}
	// A copy of the statement delivered again changes nothing, and a
	// forged one (signed by another key) is refused.
	other, _ := wire.LoadIdentity(must(wire.NewIdentity("forger")))
	forged, _ := wire.SignRevocation(other, "srv1", rec.CertFingerprint, time.Now())
	forged.BoxCert = oldKey.Certificate[0]
	var res wire.CommandResult
	if err := r.c.send(ctx, "srv1", old, "POST", wire.PathRevoke, forged, &res); err != nil || !res.OK {
		t.Fatalf("a revocation for a box the agent no longer trusts: %+v %v", res, err)
	}
}

// TestForgedRevocationRefused: a LAN host cannot unpair an agent with a
// revocation not signed by the box it pinned.
func TestForgedRevocationRefused(t *testing.T) {
	r := paired(t)
	ctx := context.Background()
	rec, _, _ := r.st.GetAgent("srv1")
	boxKey := r.boxKey(t, "srv1")
	other, _ := wire.LoadIdentity(must(wire.NewIdentity("forger")))
	forged, _ := wire.SignRevocation(other, "srv1", rec.CertFingerprint, time.Now())
	forged.BoxCert = boxKey.Certificate[0]
	stranger := &conn{fp: rec.CertFingerprint, addr: rec.Address, http: pinnedClient("srv1", rec.CertFingerprint, other)}
	var res wire.CommandResult
	if err := r.c.send(ctx, "srv1", stranger, "POST", wire.PathRevoke, forged, &res); !errors.Is(err, ErrRefused) {
		t.Fatalf("forged revocation: %+v %v", res, err)
	}
	if res := r.run(t, "mem"); res.Status != checks.OK {
		t.Fatalf("the agent forgot the box after a forged revocation: %+v", res)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// legacyProof is the v1 pairing proof: an HMAC of the code, checkable
// offline by anyone who saw it.
func legacyProof(code string, agentCert []byte, boxTLS string) string {
	m := hmac.New(sha256.New, []byte("outpost-pair-v1:"+code))
	m.Write([]byte(wire.Fingerprint(agentCert)))
	m.Write([]byte{0})
	m.Write([]byte(boxTLS))
	return hex.EncodeToString(m.Sum(nil))
}
