package appliance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"outpost/checks/clock"
	"outpost/store"
)

// Validity of the box's self-signed certificates (this one and the agent
// pairing identities of checks/agent/wire, which use the same bounds):
// it does not depend on the clock when the certificate is made, because
// a box without a real-time clock makes its certificate on first boot,
// when the clock may read 1970 or a stale saved time, and NTP corrects it
// hours or years later. What makes these certificates trusted is their
// fingerprint, accepted once in the browser or pinned at pairing, never
// their dates.
//
// NotBefore is the Unix epoch, the earliest time any clock that counts
// Unix time can read (a box without RTC boots at it): a verifier whose
// own clock is wrong in the same way still accepts the certificate. Not
// earlier, since negative Unix times trip verifiers with unsigned or
// 32-bit time. NotAfter is 9999-12-31T23:59:59Z, which RFC 5280
// 4.1.2.5 defines as "no well-defined expiration date" (Go encodes it
// as GeneralizedTime, as the RFC requires for years from 2050).
// Browsers' maximum validity (398 days) applies only to certificates
// from publicly trusted CAs; TestUICertificateMadeAt1970InChromium
// shows Chromium accepting these bounds.
var (
	selfSignedNotBefore = time.Unix(0, 0).UTC()
	selfSignedNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// boxCertificate returns the box's HTTPS certificate, generating a
// self-signed one on first boot and keeping it in the store, so its
// fingerprint (shown in the UI and on receipts) does not change. The one
// exception: a certificate stored by an older version that made it
// valid for ten years from a clock reading 1970 has expired at any
// correct date, so it is replaced once.
func boxCertificate(st *store.Store) (tls.Certificate, string, error) {
	pemBytes, err := st.GetBlob("ui-tls")
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if pemBytes == nil {
		fresh, err := newSelfSigned()
		if err != nil {
			return tls.Certificate{}, "", err
		}
		if pemBytes, err = st.PutBlobIfAbsent("ui-tls", fresh); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	cert, err := tls.X509KeyPair(pemBytes, pemBytes)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("stored UI certificate: %w", err)
	}
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && leaf.NotAfter.Before(clock.MinPlausible) {
		fresh, err := newSelfSigned()
		if err != nil {
			return tls.Certificate{}, "", err
		}
		if err := st.PutBlob("ui-tls", fresh); err != nil {
			return tls.Certificate{}, "", err
		}
		if cert, err = tls.X509KeyPair(fresh, fresh); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	return cert, Fingerprint(cert.Certificate[0]), nil
}

// Fingerprint is the SHA-256 of a DER certificate as colon-separated hex,
// the form browsers show.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// newSelfSigned makes the UI certificate, valid from selfSignedNotBefore
// to selfSignedNotAfter whatever the clock reads, returned as one PEM
// holding certificate and key.
func newSelfSigned() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Outpost " + host, Organization: []string{"Outpost"}},
		NotBefore:    selfSignedNotBefore,
		NotAfter:     selfSignedNotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host, host+".local")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...), nil
}
