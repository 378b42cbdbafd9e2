package config

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

// PhoneHome sends summaries to the MSP (off while url is empty).
type PhoneHome struct {
	// URL is the receiver's HTTPS endpoint, e.g.
	// https://hq.example.net:8444/v1/summaries.
	URL string `yaml:"url"`
	// Interval between summaries (default 5m); incidents opening or
	// resolving send one at once too.
	Interval time.Duration `yaml:"interval"`
	// CAFile pins the CA of a self-hosted receiver (a PEM file on the
	// box); empty uses the system's roots.
	CAFile string `yaml:"ca_file"`
	// CAPEM is the receiver's CA as PEM text in the config itself, so a
	// bundle carries it to the box; at most one of CAFile and CAPEM.
	CAPEM string `yaml:"ca_pem"`
	// PinSHA256 pins the receiver's key: the base64 SHA-256 of its
	// certificate's SubjectPublicKeyInfo (`outpost hq run` logs it). With
	// no CA the pin alone decides (a self-signed receiver); with one, the
	// chain must verify too. Several allow a key rotation.
	PinSHA256 []string `yaml:"pin_sha256"`
	// Quota bounds the outbox (default 20MB); beyond it the oldest
	// summaries are coalesced: dropped, their count and figures kept and
	// reported (docs/phone-home.md).
	Quota checks.Bytes `yaml:"quota"`
	// BackoffMax caps the wait between attempts (default 5m).
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Timeout bounds one request to the receiver (default 30s): a slow
	// satellite or mobile link may need more.
	Timeout time.Duration `yaml:"timeout"`

	line int
}

// Phone-home defaults.
const (
	DefaultPhoneInterval = 5 * time.Minute
	DefaultPhoneQuota    = 20 << 20
	DefaultPhoneBackoff  = 5 * time.Minute
	DefaultPhoneTimeout  = 30 * time.Second
)

// Same reports whether q asks for the same phone home as p (where in
// the file it was written does not matter).
func (p PhoneHome) Same(q PhoneHome) bool {
	if !slices.Equal(p.PinSHA256, q.PinSHA256) {
		return false
	}
	p.line, q.line = 0, 0
	p.PinSHA256, q.PinSHA256 = nil, nil
	return reflect.DeepEqual(p, q)
}

// Enabled reports whether phone home is configured.
func (p PhoneHome) Enabled() bool { return p.URL != "" }

func (c *Config) validatePhoneHome(d *decoder, root *yaml.Node) {
	p := &c.PhoneHome
	node := findKey(root, "phonehome")
	if node != nil {
		p.line = node.Line
	}
	at := func(field string) int {
		if node != nil {
			if n := findKey(node, field); n != nil {
				return n.Line
			}
		}
		return p.line
	}
	failAt := func(line int, field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Line: line, Field: "phonehome." + field, Msg: fmt.Sprintf(format, args...)})
	}
	fail := func(field, format string, args ...any) { failAt(at(field), field, format, args...) }
	if p.Interval == 0 {
		p.Interval = DefaultPhoneInterval
	}
	if p.Quota == 0 {
		p.Quota = DefaultPhoneQuota
	}
	if p.BackoffMax == 0 {
		p.BackoffMax = DefaultPhoneBackoff
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultPhoneTimeout
	}
	if p.URL == "" {
		return
	}
	u, err := url.Parse(p.URL)
	switch {
	case err != nil:
		fail("url", "%q is not a URL: %v", p.URL, err)
	case u.Scheme != "https":
		fail("url", "%q must be https:// (summaries carry the site's incidents)", p.URL)
	case u.Host == "":
		fail("url", "%q has no host", p.URL)
	}
	if p.Interval < 200*time.Millisecond || p.Interval > 24*time.Hour {
		fail("interval", "%s is out of range (200ms to 24h)", p.Interval)
	}
	if p.Quota < 64<<10 {
		fail("quota", "%s is too small (at least 64KiB)", p.Quota)
	}
	if p.BackoffMax < time.Second || p.BackoffMax > 24*time.Hour {
		fail("backoff_max", "%s is out of range (1s to 24h)", p.BackoffMax)
	}
	if p.Timeout < time.Second || p.Timeout > 10*time.Minute {
		fail("timeout", "%s is out of range (1s to 10m)", p.Timeout)
	}
	if p.CAFile != "" {
		if _, err := os.Stat(p.CAFile); err != nil {
			fail("ca_file", "%v", err)
		}
	}
	if p.CAPEM != "" {
		switch _, err := checkCAPEM([]byte(p.CAPEM)); {
		case p.CAFile != "":
			fail("ca_pem", "set ca_file or ca_pem, not both (ca_pem travels in a bundle; ca_file names a file on the box)")
		case err != nil:
			fail("ca_pem", "%v", err)
		}
	}
	var pins *yaml.Node
	if node != nil {
		pins = findKey(node, "pin_sha256")
	}
	for i, pin := range p.PinSHA256 {
		if err := checkPin(pin); err != nil {
			line := at("pin_sha256")
			if pins != nil && pins.Kind == yaml.SequenceNode && i < len(pins.Content) {
				line = pins.Content[i].Line
			}
			failAt(line, fmt.Sprintf("pin_sha256[%d]", i), "%v", err)
		}
	}
}

// maxCAPEM bounds phonehome.ca_pem.
const maxCAPEM = 64 << 10

// checkCAPEM is the rule phone home reads ca_pem by when it starts
// (wire.ParseCertificates, which config may not import:
// docs/architecture.md), so a bundle is refused at the office with the
// message the box would log; TestPhoneHomeTrustRulesAgree keeps the two
// alike. At least one certificate, every PEM block a CERTIFICATE that
// parses, no other text.
func checkCAPEM(text []byte) (int, error) {
	if len(text) > maxCAPEM {
		return 0, fmt.Errorf("%d bytes is more than %d", len(text), maxCAPEM)
	}
	n := 0
	rest := text
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		n++
		switch {
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return 0, fmt.Errorf("PEM block %d is a %s: a private key does not belong in a site config (give the receiver's CA certificate, or pin its key with pin_sha256)", n, b.Type)
		case b.Type != "CERTIFICATE":
			return 0, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n, b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return 0, fmt.Errorf("PEM block %d: %v", n, err)
		}
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if n == 0 {
			return 0, fmt.Errorf("no PEM certificate in it (it should start with -----BEGIN CERTIFICATE-----)")
		}
		return 0, fmt.Errorf("text after PEM block %d that is no PEM block", n)
	}
	if n == 0 {
		return 0, fmt.Errorf("no PEM certificate in it")
	}
	return n, nil
}

// checkPin is wire.ParsePin's rule: the base64 of a SHA-256.
func checkPin(s string) error {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		q := s
		if len(q) > 24 {
			q = q[:24] + "…"
		}
		return fmt.Errorf("%q is not the base64 of a SHA-256 (44 characters, as `outpost hq run` logs it, or: openssl x509 -in hq.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)", q)
	}
	return nil
}
