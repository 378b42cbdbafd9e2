//go:build !windows

package appliance_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPhoneHomeFollowsReload: phone home starts, moves and stops with
// the config in force, in process (run under -race to check the
// supervisor), as `outpost phonehome status` sees it.
func TestPhoneHomeFollowsReload(t *testing.T) {
	a, cfgPath := MustRun(t, "site: Acme\nchecks: []\n")
	sock := filepath.Join(filepath.Dir(cfgPath), "data", "control.sock")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	status := func() (int, string) {
		resp, err := client.Get("http://outpost/phonehome")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var st struct {
			URL   string `json:"url"`
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&st)
		return resp.StatusCode, st.URL + st.Error
	}
	reload := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(code int, text string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("phonehome status %d %q", code, text), patience, func() (bool, string) {
			c, got := status()
			return c == code && got == text, fmt.Sprintf("%d %q", c, got)
		})
	}
	expect(404, "phone home is off: set phonehome.url in the site config")
	for _, url := range []string{"https://127.0.0.1:1/v1/summaries", "https://127.0.0.1:2/v1/summaries"} {
		reload("site: Acme\nphonehome: {url: '" + url + "', interval: 1s}\nchecks: []\n")
		expect(200, url)
	}
	// A CA file that holds no certificate: status says why, and fixing
	// the file and reloading the same config starts it.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("not a certificate\n"), 0o644)
	withCA := "site: Acme\nphonehome: {url: 'https://127.0.0.1:2/v1/summaries', ca_file: '" + ca + "'}\nchecks: []\n"
	reload(withCA)
	expect(503, "phone home not started: phone home CA "+ca+": no PEM certificate in it (it should start with -----BEGIN CERTIFICATE-----)")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t)}), 0o644); err != nil {
		t.Fatal(err)
	}
	a.Reload() // the file is unchanged, the CA it names is not
	expect(200, "https://127.0.0.1:2/v1/summaries")
	reload("site: Acme\nchecks: []\n")
	expect(404, "phone home is off: set phonehome.url in the site config")
}

func selfSigned(t *testing.T) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hq CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
