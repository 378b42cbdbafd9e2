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
	"strings"
	"testing"
	"time"

	"outpost/appliance/phonehome"
	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
)

// selfSigned is an MSP's own hq certificate, made with no CA: valid from
// an hour ago for a day, for 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.Certificate, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "hq.msp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestReceiverTrustWithoutFiles: a self-signed hq is reached with its
// certificate given inline (ca_pem) or its key pinned (pin_sha256),
// nothing read from a file on the box; a pin of another key is refused,
// with a CA too; a certificate from no trusted CA is refused as before.
func TestReceiverTrustWithoutFiles(t *testing.T) {
	cert, leaf, certPEM := selfSigned(t)
	_, other, otherPEM := selfSigned(t)
	pin, otherPin := wire.PinOf(leaf).String(), wire.PinOf(other).String()
	for _, c := range []struct {
		name   string
		caPEM  string
		pins   []string
		refuse string
	}{
		{"ca_pem", certPEM, nil, ""},
		{"pin alone", "", []string{pin}, ""},
		{"pin among others", "", []string{otherPin, pin}, ""},
		{"ca_pem and pin", certPEM, []string{pin}, ""},
		{"wrong pin", "", []string{otherPin}, "is none of those phonehome.pin_sha256 pins"},
		{"ca_pem and wrong pin", certPEM, []string{otherPin}, "is none of those phonehome.pin_sha256 pins"},
		{"another ca_pem", otherPEM, nil, "certificate signed by unknown authority"},
		{"system roots", "", nil, "certificate signed by unknown authority"},
	} {
		t.Run(c.name, func(t *testing.T) {
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			st, id, h := boxAndHQ(t, t.TempDir(), quiet)
			srv := httptest.NewUnstartedServer(h.Handler())
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()
			p, err := phonehome.New(phonehome.Options{URL: srv.URL + "/v1/summaries", CAPEM: c.caPEM, Pins: c.pins, Interval: time.Hour,
				Outbox: storeOutbox{st}, Signer: id, Log: quiet, Clock: clock.Real{},
				Build: func(string, uint64, phonehome.Meta, bool) (wire.Summary, map[string]string, error) {
					return wire.Summary{Box: wire.Box{ID: id.ID(), Site: "Acme", PublicKey: id.PublicKeyString()}}, nil, nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { p.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			waitUntil(t, "the first attempt", func() bool { s := p.Status(); return s.LastAck >= 1 || s.LastError != "" })
			switch s := p.Status(); {
			case c.refuse == "" && s.LastAck < 1:
				t.Fatalf("refused: %s", s.LastError)
			case c.refuse != "" && !strings.Contains(s.LastError, c.refuse):
				t.Fatalf("got %q (ack %d), want %q", s.LastError, s.LastAck, c.refuse)
			}
		})
	}
}

// TestReceiverTrustRefusedAtStart: what cannot be used is said when phone
// home starts.
func TestReceiverTrustRefusedAtStart(t *testing.T) {
	_, _, certPEM := selfSigned(t)
	for _, c := range []struct {
		o    phonehome.Options
		want string
	}{
		{phonehome.Options{CAFile: "/etc/hq.pem", CAPEM: certPEM}, "ca_file and ca_pem are both set"},
		{phonehome.Options{CAPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "a private key does not belong in a site config"},
		{phonehome.Options{CAPEM: certPEM + "trailing words"}, "text after PEM block 1"},
		{phonehome.Options{Pins: []string{"c2hvcnQ="}}, `"c2hvcnQ=" is not the base64 of a SHA-256`},
	} {
		if _, err := phonehome.New(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}
