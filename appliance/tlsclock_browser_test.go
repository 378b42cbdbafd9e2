package appliance_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"outpost/appliance"
	"outpost/checks/clock"
)

// TestUICertificateMadeAt1970InChromium: the daemon's first boot with its
// clock at 1970 makes the UI certificate, and headless Debian chromium,
// with its clock at the real date, loads the UI over HTTPS with it.
//
// Trust is given the way that keeps Chromium's checks: the certificate is
// imported into the NSS database of the browser's HOME (certutil from
// libnss3-tools) as a trusted peer, so Chromium still verifies its dates
// and names; controls show it does (the same names made by the old rule
// at 1970, expired in 1980, are refused as ERR_CERT_DATE_INVALID; a
// certificate not imported is ERR_CERT_AUTHORITY_INVALID). The other
// ways do not check dates, so they could not show anything: the browser
// flow's --ignore-certificate-errors ignores every error, and
// --ignore-certificate-errors-spki-list skips verification altogether for
// a listed key; the last subtest shows it loading the expired control.
func TestUICertificateMadeAt1970InChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (make test installs it)")
		}
		t.Skip("chromium is not installed; `make test` installs it")
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("certutil is not installed (make test installs libnss3-tools)")
		}
		t.Skip("certutil is not installed (Debian package libnss3-tools)")
	}

	// First boot with the box clock at 1970.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(cfg, []byte("site: Acme Dental\nchecks: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := appliance.New(appliance.Options{ConfigPath: cfg, DataDir: filepath.Join(dir, "data"),
		Listen: "127.0.0.1:0", UIListen: "127.0.0.1:0", Clock: clock.NewFake(time.Unix(0, 0)),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	base := a.UIURL()
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("UI at %s", base)
	}
	ui := servedCertificate(t, strings.TrimPrefix(base, "https://"))
	if appliance.Fingerprint(ui.Raw) != a.CertFingerprint() {
		t.Fatal("the UI serves another certificate than the one on the Settings page")
	}
	t.Logf("UI certificate made at 1970: valid %s to %s", ui.NotBefore.UTC().Format(time.RFC3339), ui.NotAfter.UTC().Format(time.RFC3339))

	// Controls, with the same names as the UI certificate.
	expired := selfSignedFor(t, ui, time.Unix(0, 0).Add(-time.Hour), time.Unix(0, 0).AddDate(10, 0, 0)) // the old rule at 1970
	unknown := selfSignedFor(t, ui, ui.NotBefore, ui.NotAfter)
	serve := func(c tls.Certificate, page string) string {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!doctype html><title>"+page+"</title><p id=page>"+page)
		}))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{c}}
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.URL
	}
	expiredURL, unknownURL := serve(expired, "expired"), serve(unknown, "unknown")

	// The browser's own certificate store, trusting the UI certificate
	// and the expired control as peers ("P": a trusted server
	// certificate, not a CA).
	home := t.TempDir()
	nssdb := "sql:" + filepath.Join(home, ".pki", "nssdb")
	os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("-N", "-d", nssdb, "--empty-password")
	for name, der := range map[string][]byte{"outpost-ui": ui.Raw, "expired-control": expired.Certificate[0]} {
		p := filepath.Join(dir, name+".pem")
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
		run("-A", "-d", nssdb, "-n", name, "-t", "P,,", "-i", p)
	}

	t.Run("trusted in NSS", func(t *testing.T) {
		bctx, stop := chromiumWith(t, chromium, home)
		defer stop()
		if err := chromedp.Do(bctx,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-admin"]`)),
		); err != nil {
			t.Fatalf("UI certificate made at 1970 refused by chromium: %v", err)
		}
		title, err := chromedp.Run(bctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join("..", "testout", "screenshots")
		os.MkdirAll(out, 0o755)
		os.WriteFile(filepath.Join(out, "ui-certificate-made-1970.png"), shot, 0o644)
		t.Logf("loaded %q over HTTPS; screenshot in testout/screenshots/ui-certificate-made-1970.png", title)

		// Chromium does check dates and trust here.
		for url, want := range map[string]string{expiredURL: "net::ERR_CERT_DATE_INVALID", unknownURL: "net::ERR_CERT_AUTHORITY_INVALID"} {
			err := chromedp.Do(bctx, chromedp.Navigate(url))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %s", url, err, want)
			}
		}
	})

	t.Run("spki list does not check dates", func(t *testing.T) {
		sum := sha256.Sum256(x509Leaf(t, expired).RawSubjectPublicKeyInfo)
		bctx, stop := chromiumWith(t, chromium, t.TempDir(), chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(sum[:])))
		defer stop()
		if err := chromedp.Do(bctx, chromedp.Navigate(expiredURL), chromedp.WaitVisible(chromedp.CSS(`#page`))); err != nil {
			t.Fatalf("a certificate that expired in 1980, its key listed: %v (if Chromium now checks dates here, the SPKI list could replace NSS above)", err)
		}
	})
}

// chromiumWith starts headless chromium with home as its HOME (where NSS
// keeps its database) and no certificate error ignored unless flags say.
func chromiumWith(t *testing.T, path, home string, flags ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Env("HOME=" + home),
	}, flags...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	return ctx, func() { cancelT(); cancelC(); cancelA() }
}

// servedCertificate is the certificate the server at addr presents.
func servedCertificate(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// selfSignedFor makes a self-signed certificate with like's names, valid
// from..to.
func selfSignedFor(t *testing.T, like *x509.Certificate, from, to time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "control " + serial.String()}, NotBefore: from, NotAfter: to,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: like.DNSNames, IPAddresses: append([]net.IP(nil), like.IPAddresses...)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func x509Leaf(t *testing.T, c tls.Certificate) *x509.Certificate {
	t.Helper()
	l, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil || !bytes.Equal(l.Raw, c.Certificate[0]) {
		t.Fatal(err)
	}
	return l
}
