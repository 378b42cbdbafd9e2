package appliance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"

	"outpost/store"
)

// handshakeAt serves cert on 127.0.0.1 and connects to it as a browser
// that trusts cert would, with its clock reading at: the certificate is
// the only root, so dates, names and signature are all checked.
func handshakeAt(t *testing.T, cert tls.Certificate, serverName string, at time.Time) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*tls.Conn).Handshake()
	}()
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: serverName, Time: func() time.Time { return at }})
	if err != nil {
		return err
	}
	return c.Close()
}

// oldStyleCert is a UI certificate as versions before the fixed
// validity made it: from an hour before the clock to ten years after.
func oldStyleCert(t *testing.T, now time.Time) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.Unix() + 7), Subject: pkix.Name{CommonName: "Outpost old"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})...)
}

// TestUICertificateValidWhateverTheClock: the UI certificate does not
// depend on the clock that made it (a box without RTC makes it at 1970)
// and Go's TLS stack, checking its dates, accepts it with the verifier's
// clock at 1970, today and 30 years on.
func TestUICertificateValidWhateverTheClock(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cert, fp, err := boxCertificate(st) // first boot
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if !leaf.NotBefore.Equal(time.Unix(0, 0)) || !leaf.NotAfter.Equal(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Fatalf("UI certificate valid %v to %v, want 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z", leaf.NotBefore, leaf.NotAfter)
	}
	// RFC 5280 4.1.2.5: years from 2050 are GeneralizedTime (tag 0x18).
	if !bytes.Contains(leaf.RawTBSCertificate, append([]byte{0x18, 15}, "99991231235959Z"...)) {
		t.Fatal("NotAfter is not the GeneralizedTime 99991231235959Z")
	}
	now := time.Now()
	for _, at := range []time.Time{time.Unix(0, 0), time.Date(1970, 1, 1, 0, 5, 0, 0, time.UTC), now, now.AddDate(30, 0, 0)} {
		for _, name := range []string{"localhost", "127.0.0.1"} {
			if err := handshakeAt(t, cert, name, at); err != nil {
				t.Errorf("verifier clock %s, name %s: %v", at.UTC().Format(time.RFC3339), name, err)
			}
		}
	}
	// The same verification does check dates: a second before the epoch
	// is refused.
	var inv x509.CertificateInvalidError
	if err := handshakeAt(t, cert, "localhost", time.Unix(-1, 0)); !errors.As(err, &inv) || inv.Reason != x509.Expired {
		t.Fatalf("verifier clock before NotBefore: %v, want a date error", err)
	}
	again, fp2, err := boxCertificate(st) // later boots: the same certificate
	if err != nil || fp2 != fp || !bytes.Equal(again.Certificate[0], cert.Certificate[0]) {
		t.Fatalf("second boot: %s vs %s, %v", fp2, fp, err)
	}
}

// TestUICertificateFrom1970Replaced: a UI certificate an older version
// made with the clock at 1970 (expired in 1980) is replaced once; one
// made with a correct clock is kept, so its fingerprint stays.
func TestUICertificateFrom1970Replaced(t *testing.T) {
	for _, tc := range []struct {
		made time.Time
		kept bool
	}{{time.Unix(0, 0), false}, {time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), true}} {
		st, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		old := oldStyleCert(t, tc.made)
		if err := st.PutBlob("ui-tls", old); err != nil {
			t.Fatal(err)
		}
		oldCert, _ := tls.X509KeyPair(old, old)
		cert, fp, err := boxCertificate(st)
		if err != nil {
			t.Fatal(err)
		}
		if kept := bytes.Equal(cert.Certificate[0], oldCert.Certificate[0]); kept != tc.kept {
			t.Fatalf("certificate made at %s: kept %v, want %v", tc.made, kept, tc.kept)
		}
		if !tc.kept && !cert.Leaf.NotAfter.Equal(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)) {
			t.Fatalf("replacement valid to %v", cert.Leaf.NotAfter)
		}
		if _, fp2, _ := boxCertificate(st); fp2 != fp {
			t.Fatalf("certificate made at %s changed again on the next boot", tc.made)
		}
		st.Close()
	}
}
