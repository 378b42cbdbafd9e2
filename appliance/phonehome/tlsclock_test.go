package phonehome_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome"
	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	"outpost/firmware/identity"
	"outpost/store"
)

// testCA signs hq certificates the way a real CA does: a root valid for
// years, leaves valid for a few months around the date they were issued.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test MSP CA"},
		NotBefore: clock.MinPlausible.AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf is hq's certificate for 127.0.0.1, valid from..to.
func (ca *testCA) leaf(t *testing.T, from, to time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "hq.msp.example"}, NotBefore: from, NotAfter: to,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"hq.msp.example"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// phoneHomeAt sends one summary to a real hq serving cert, from a box
// whose clock reads boxTime, and returns "" once hq acknowledged it or
// the error phone home reports.
func phoneHomeAt(t *testing.T, ca *testCA, cert tls.Certificate, boxTime time.Time) string {
	t.Helper()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, id, h := boxAndHQ(t, dir, quiet)
	srv := httptest.NewUnstartedServer(h.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.pem, 0o644)
	p, err := phonehome.New(phonehome.Options{URL: srv.URL + "/v1/summaries", CAFile: caFile, Interval: time.Hour,
		Outbox: storeOutbox{st}, Signer: id, Log: quiet, Clock: clock.NewFake(boxTime),
		Build: func(reason string, seq uint64, m phonehome.Meta, full bool) (wire.Summary, map[string]string, error) {
			return wire.Summary{Box: wire.Box{ID: id.ID(), Site: "Acme", PublicKey: id.PublicKeyString()}}, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The fake clock never fires the backoff timer: one attempt.
	waitUntil(t, "the first attempt", func() bool { s := p.Status(); return s.LastAck >= 1 || s.LastError != "" })
	if s := p.Status(); s.LastAck < 1 {
		return s.LastError
	}
	sums, err := h.Summaries(id.ID(), 1)
	if err != nil || len(sums) != 1 {
		t.Fatalf("acknowledged but hq holds %d summaries (%v)", len(sums), err)
	}
	return ""
}

// TestPhoneHomeWithBoxClockWrong: hq's CA-signed certificate, valid at
// the real date, is verified against the box clock raised to
// clock.MinPlausible when it reads earlier. A box booted at 1970 reaches
// hq; a box whose clock is decades ahead refuses the certificate as
// expired (the safe side); a certificate issued after MinPlausible is
// refused by a box at 1970 until NTP sets its clock.
func TestPhoneHomeWithBoxClockWrong(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	if !clock.Plausible(now) {
		t.Skipf("this machine's clock (%s) reads before clock.MinPlausible", now)
	}
	issuedBefore := ca.leaf(t, clock.MinPlausible.AddDate(0, 0, -30), now.AddDate(0, 0, 60)) // issued before this build
	issuedAfter := ca.leaf(t, now.Add(-time.Hour), now.AddDate(0, 0, 90))                    // renewed since
	const dateErr = "certificate has expired or is not yet valid"
	for _, tc := range []struct {
		name    string
		cert    tls.Certificate
		box     time.Time
		refused bool
	}{
		{"box at 1970, certificate issued before MinPlausible", issuedBefore, time.Unix(0, 0), false},
		{"box an hour after boot at 1970", issuedBefore, time.Unix(3600, 0), false},
		{"box at a stale saved time before MinPlausible", issuedBefore, clock.MinPlausible.AddDate(-1, 0, 0), false},
		{"box clock right", issuedBefore, now, false},
		{"box clock right, certificate renewed recently", issuedAfter, now, false},
		{"box clock 30 years ahead", issuedBefore, now.AddDate(30, 0, 0), true},
		{"box at 1970, certificate issued after MinPlausible", issuedAfter, time.Unix(0, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := phoneHomeAt(t, ca, tc.cert, tc.box)
			switch {
			case !tc.refused && got != "":
				t.Fatalf("refused: %s", got)
			case tc.refused && !strings.Contains(got, dateErr):
				t.Fatalf("got %q, want the certificate refused for its dates", got)
			}
		})
	}
}

// TestHQJudgesContactByItsOwnClock: a box whose clock is years off, then
// stepped back decades, still delivers every summary; hq files them in
// order, counts none as a replay, and dates the contact by its own clock,
// so the box is not shown silent. (httptest's certificate is valid from
// 1970 to 2084, so TLS is not what is tested here.)
func TestHQJudgesContactByItsOwnClock(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, id, h := boxAndHQ(t, dir, quiet)
	srv := httptest.NewTLSServer(h.Handler())
	defer srv.Close()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	box := clock.NewFake(time.Date(2061, 5, 1, 0, 0, 0, 0, time.UTC))
	p, err := phonehome.New(phonehome.Options{URL: srv.URL + "/v1/summaries", CAFile: caFile, Interval: time.Hour,
		Outbox: storeOutbox{st}, Signer: id, Log: quiet, Clock: box,
		Build: func(reason string, seq uint64, m phonehome.Meta, full bool) (wire.Summary, map[string]string, error) {
			return wire.Summary{Box: wire.Box{ID: id.ID(), Site: "Acme", PublicKey: id.PublicKeyString()}}, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "the start summary", func() bool { return p.Status().LastAck >= 1 })
	box.JumpTo(time.Unix(3600, 0)) // corrected... to 1970: a box that lost its saved time
	p.Kick("incident_opened")
	waitUntil(t, "the summary after the step back", func() bool { return p.Status().LastAck >= 2 })
	boxes, err := h.Boxes()
	if err != nil || len(boxes) != 1 {
		t.Fatalf("boxes %+v %v", boxes, err)
	}
	b := boxes[0]
	if b.LastSeq != 2 || b.Summaries != 2 || b.Duplicates != 0 {
		t.Fatalf("hq filed %d summaries up to seq %d with %d duplicates, want 2, 2, 0", b.Summaries, b.LastSeq, b.Duplicates)
	}
	if d := time.Since(b.LastSeen); d < 0 || d > time.Minute || b.Silent(time.Now()) {
		t.Fatalf("hq last seen %s (%s ago), silent %v", b.LastSeen, d, b.Silent(time.Now()))
	}
}

// boxAndHQ opens a box's store and identity in dir and a real hq that has
// the box registered; both close with the test.
func boxAndHQ(t *testing.T, dir string, quiet *slog.Logger) (*store.Store, *identity.Identity, *hq.Server) {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := identity.Load(st)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hq.Open(filepath.Join(dir, "hq.db"), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if _, err := h.Register(id.ID(), id.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	return st, id, h
}
