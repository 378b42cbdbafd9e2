package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"outpost/appliance/phonehome/wire"
)

func testCertPEM(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hq"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// TestPhoneHomeTrustInTheConfig: the receiver's CA inline (ca_pem) and
// pins of its key are read from the site config, so a bundle carries
// them; what is wrong is named with its line, at the office.
func TestPhoneHomeTrustInTheConfig(t *testing.T) {
	ca := testCertPEM(t)
	pin := strings.Repeat("A", 43) + "="
	good := "site: Acme\nphonehome:\n  url: https://hq.example:8444/v1/summaries\n  ca_pem: |\n" + indent(ca) + "  pin_sha256: [" + pin + "]\n"
	c, err := Parse("site.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.PhoneHome.CAPEM != ca || len(c.PhoneHome.PinSHA256) != 1 || c.PhoneHome.PinSHA256[0] != pin {
		t.Fatalf("read %+v", c.PhoneHome)
	}
	other := c.PhoneHome
	other.PinSHA256 = []string{strings.Repeat("B", 43) + "="}
	if c.PhoneHome.Same(other) || !c.PhoneHome.Same(c.PhoneHome) {
		t.Fatal("Same does not tell pins apart")
	}
	key := "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"
	for name, c := range map[string]struct{ yaml, want string }{
		"private key": {"site: Acme\nphonehome:\n  url: https://hq.example/v1/summaries\n  ca_pem: |\n" + indent(key),
			"site.yaml:4: phonehome.ca_pem: PEM block 1 is a EC PRIVATE KEY: a private key does not belong in a site config (give the receiver's CA certificate, or pin its key with pin_sha256)"},
		"not PEM": {"site: Acme\nphonehome:\n  url: https://hq.example/v1/summaries\n  ca_pem: hq.pem\n",
			"site.yaml:4: phonehome.ca_pem: no PEM certificate in it (it should start with -----BEGIN CERTIFICATE-----)"},
		"both": {"site: Acme\nphonehome:\n  url: https://hq.example/v1/summaries\n  ca_file: /dev/null\n  ca_pem: |\n" + indent(ca),
			"site.yaml:5: phonehome.ca_pem: set ca_file or ca_pem, not both (ca_pem travels in a bundle; ca_file names a file on the box)"},
		"bad pin": {"site: Acme\nphonehome:\n  url: https://hq.example/v1/summaries\n  pin_sha256:\n    - " + pin + "\n    - sha256//abc\n",
			"site.yaml:6: phonehome.pin_sha256[1]: \"sha256//abc\" is not the base64 of a SHA-256 (44 characters, as `outpost hq run` logs it, or: openssl x509 -in hq.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("site.yaml", []byte(c.yaml))
			if err == nil || err.Error() != c.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, c.want)
			}
		})
	}
}

// TestPhoneHomeTrustRulesAgree: the config refuses at the office what
// phone home refuses on the box, with the same words (the config may not
// import the wire package, so the rule is written twice).
func TestPhoneHomeTrustRulesAgree(t *testing.T) {
	ca := testCertPEM(t)
	for _, text := range []string{
		ca, ca + ca, "", "  \n", "hq.pem", ca + "trailing", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		strings.Repeat("x", maxCAPEM+1),
	} {
		_, mine := checkCAPEM([]byte(text))
		_, theirs := wire.ParseCertificates([]byte(text))
		if (mine == nil) != (theirs == nil) || (mine != nil && mine.Error() != theirs.Error()) {
			t.Errorf("%.40q: config says %v, phone home %v", text, mine, theirs)
		}
	}
	for _, pin := range []string{strings.Repeat("A", 43) + "=", "", "AAAA", "sha256//" + strings.Repeat("A", 43) + "=", strings.Repeat("A", 44), " " + strings.Repeat("A", 43) + "= "} {
		mine := checkPin(pin)
		_, theirs := wire.ParsePin(pin)
		if (mine == nil) != (theirs == nil) || (mine != nil && mine.Error() != theirs.Error()) {
			t.Errorf("pin %q: config says %v, phone home %v", pin, mine, theirs)
		}
	}
	if maxCAPEM != wire.MaxCAPEM {
		t.Errorf("ca_pem bound: config %d, phone home %d", maxCAPEM, wire.MaxCAPEM)
	}
}
