package wire

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
)

// MaxCAPEM bounds the CA certificates a site config may carry inline.
const MaxCAPEM = 64 << 10

// ParseCertificates reads PEM text that must hold certificates and
// nothing else (phonehome.ca_pem): at least one, every block a
// CERTIFICATE that parses, no other text. The error says which block is
// wrong and how; a private key pasted by mistake is named as such.
func ParseCertificates(text []byte) ([]*x509.Certificate, error) {
	if len(text) > MaxCAPEM {
		return nil, fmt.Errorf("%d bytes is more than %d", len(text), MaxCAPEM)
	}
	var out []*x509.Certificate
	rest := text
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("PEM block %d is a %s: a private key does not belong in a site config (give the receiver's CA certificate, or pin its key with pin_sha256)", n, b.Type)
		case b.Type != "CERTIFICATE":
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %v", n, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if len(out) == 0 {
			return nil, fmt.Errorf("no PEM certificate in it (it should start with -----BEGIN CERTIFICATE-----)")
		}
		return nil, fmt.Errorf("text after PEM block %d that is no PEM block", len(out))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate in it")
	}
	return out, nil
}

// Pin is the SHA-256 of a certificate's SubjectPublicKeyInfo: what
// phonehome.pin_sha256 names, in base64 (the form of HPKP and of curl's
// --pinnedpubkey sha256//).
type Pin [sha256.Size]byte

// PinOf is the pin of a certificate's key.
func PinOf(c *x509.Certificate) Pin { return sha256.Sum256(c.RawSubjectPublicKeyInfo) }

// String is the pin in base64.
func (p Pin) String() string { return base64.StdEncoding.EncodeToString(p[:]) }

// ParsePin reads a pin written as base64 (44 characters); the error
// says how to make one.
func ParsePin(s string) (Pin, error) {
	var p Pin
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(p) {
		return p, fmt.Errorf("%q is not the base64 of a SHA-256 (44 characters, as `outpost hq run` logs it, or: openssl x509 -in hq.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)", abbreviate(s))
	}
	copy(p[:], b)
	return p, nil
}
