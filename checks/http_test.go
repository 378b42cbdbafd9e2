package checks_test

import (
	"bufio"
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
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"outpost/checks"
)

// certPair makes a CA and a leaf for 127.0.0.1 valid from notBefore to
// notAfter, and returns the leaf and the CA's PEM.
func certPair(t testing.TB, notBefore, notAfter time.Time) (tls.Certificate, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, NotBefore: time.Now().Add(-90 * 24 * time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, leafTemplate(notBefore, notAfter), ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

// selfSigned makes a certificate for 127.0.0.1 signed by its own key, as
// printers and UPS cards ship with.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := leafTemplate(time.Now().Add(-time.Hour), time.Now().Add(400*24*time.Hour))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func leafTemplate(notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
}

func tlsServer(t testing.TB, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are the point of some cases
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testSite is the web application the HTTP cases probe.
func testSite(t *testing.T) (*http.ServeMux, func()) {
	stop := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Welcome to the Acme intranet, version 4.2")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", 500) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "s3cret" {
			http.Error(w, "no token", 401)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/vhost", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host="+r.Host+" ua="+r.UserAgent()) })
	mux.HandleFunc("/method", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", "1000") // a body HEAD must not wait for
			return
		}
		io.WriteString(w, "method="+r.Method)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for _, part := range []string{"status: ", "all ", "systems ", "go"} {
			io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
	})
	// 70 KiB of filler, then a marker: past the 64 KiB the check reads.
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 60<<10)+"EARLY"+strings.Repeat("x", 10<<10)+"LATE")
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-stop })
	return mux, func() { close(stop) }
}

func TestHTTP(t *testing.T) {
	mux, unhang := testSite(t)
	plain := httptest.NewServer(mux)
	t.Cleanup(plain.Close)
	t.Cleanup(unhang) // runs before plain.Close, which waits for handlers

	good, goodCA := certPair(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	soon, soonCA := certPair(t, time.Now().Add(-time.Hour), time.Now().Add(5*24*time.Hour+time.Hour))
	dying, dyingCA := certPair(t, time.Now().Add(-time.Hour), time.Now().Add(36*time.Hour))
	expired, expiredCA := certPair(t, time.Now().Add(-60*24*time.Hour), time.Now().Add(-24*time.Hour))
	self, selfPEM := selfSigned(t)
	goodSrv, soonSrv, dyingSrv, expSrv, selfSrv := tlsServer(t, good, mux), tlsServer(t, soon, mux), tlsServer(t, dying, mux), tlsServer(t, expired, mux), tlsServer(t, self, mux)
	ca := func(name string, pemBytes []byte) string { return "ca_file: '" + writeFile(t, name, pemBytes) + "'" }
	mux.HandleFunc("/to-tls", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, goodSrv.URL+"/ok", http.StatusMovedPermanently)
	})

	// A server that reads the request and hangs up without a word.
	mute := listen(t, func(c net.Conn) { bufio.NewReader(c).ReadString('\n') })

	cases := []struct {
		name, target, opts string
		timeout            time.Duration
		status             checks.Status
		detail             string
	}{
		{"ok", plain.URL + "/ok", "", time.Second, checks.OK, "200 OK in"},
		{"500", plain.URL + "/fail", "", time.Second, checks.Critical, "unexpected status 500 Internal Server Error"},
		{"500 expected", plain.URL + "/fail", "{expect_status: [500, 503]}", time.Second, checks.OK, "500 Internal Server Error"},
		{"200 not in expect_status", plain.URL + "/ok", "{expect_status: [401]}", time.Second, checks.Critical, "unexpected status 200 OK"},
		{"body contains", plain.URL + "/ok", "{body_contains: Acme intranet}", time.Second, checks.OK, "200 OK"},
		{"body lacks", plain.URL + "/ok", "{body_contains: Contoso}", time.Second, checks.Critical, `200 OK in`},
		{"body lacks detail", plain.URL + "/ok", "{body_contains: Contoso}", time.Second, checks.Critical, `body lacks "Contoso"`},
		{"regex", plain.URL + "/ok", `{body_regex: 'version 4\.\d'}`, time.Second, checks.OK, "200 OK"},
		{"regex miss", plain.URL + "/ok", `{body_regex: 'version 5\.\d'}`, time.Second, checks.Critical, `body does not match /version 5\.\d/`},
		{"chunked body", plain.URL + "/chunked", "{body_contains: all systems go}", time.Second, checks.OK, "200 OK"},
		{"body read within 64 KiB", plain.URL + "/big", "{body_contains: EARLY}", time.Second, checks.OK, "200 OK"},
		{"body beyond 64 KiB not read", plain.URL + "/big", "{body_contains: LATE}", time.Second, checks.Critical, `body lacks "LATE"`},
		{"redirect followed", plain.URL + "/moved", "{body_contains: Welcome}", time.Second, checks.OK, "200 OK in"},
		{"redirect counted", plain.URL + "/moved", "", time.Second, checks.OK, "after 1 redirect"},
		{"redirect not followed", plain.URL + "/moved", "{follow_redirects: false}", time.Second, checks.OK, "302 Found"},
		{"redirect not followed, 200 expected", plain.URL + "/moved", "{follow_redirects: false, expect_status: [200]}", time.Second, checks.Critical, "unexpected status 302 Found"},
		{"redirect loop", plain.URL + "/loop", "", time.Second, checks.Critical, "more than 5 redirects"},
		{"redirect to https", plain.URL + "/to-tls", "{body_contains: Welcome, " + ca("good.pem", goodCA) + "}", time.Second, checks.OK, "cert expires in 89 days"},
		{"header sent", plain.URL + "/header", "{headers: {X-Token: s3cret}}", time.Second, checks.OK, "200 OK"},
		{"header missing", plain.URL + "/header", "", time.Second, checks.Critical, "401 Unauthorized"},
		{"host and user agent overridden", plain.URL + "/vhost", "{headers: {host: intranet.acme.test, User-Agent: probe/2}, body_contains: host=intranet.acme.test ua=probe/2}", time.Second, checks.OK, "200 OK"},
		{"HEAD does not wait for a body", plain.URL + "/method", "{method: head}", time.Second, checks.OK, "200 OK"},
		{"POST", plain.URL + "/method", "{method: POST, body_contains: method=POST}", time.Second, checks.OK, "200 OK"},
		{"hanging server, deadline honoured", plain.URL + "/hang", "", 300 * time.Millisecond, checks.Critical, "timed out"},
		{"hangs up without answering", "http://" + mute + "/", "", time.Second, checks.Critical, "closed the connection without answering"},
		{"refused", "http://" + refusedAddr(t) + "/", "", time.Second, checks.Critical, "connection refused"},
		{"tls with CA", goodSrv.URL + "/ok", "{" + ca("good.pem", goodCA) + "}", time.Second, checks.OK, "200 OK in"},
		{"tls days left", goodSrv.URL + "/ok", "{" + ca("good.pem", goodCA) + "}", time.Second, checks.OK, ", cert expires in 89 days"},
		{"tls unknown CA", goodSrv.URL + "/ok", "", time.Second, checks.Critical, "certificate signed by an unknown authority"},
		{"tls skip verify", goodSrv.URL + "/ok", "{insecure_skip_verify: true}", time.Second, checks.OK, "cert expires in 89 days"},
		{"tls self-signed", selfSrv.URL + "/ok", "", time.Second, checks.Critical, "unknown authority"},
		{"tls self-signed skip verify", selfSrv.URL + "/ok", "{insecure_skip_verify: true}", time.Second, checks.OK, "cert expires in 399 days"},
		{"tls self-signed as its own CA", selfSrv.URL + "/ok", "{" + ca("self.pem", selfPEM) + "}", time.Second, checks.OK, "cert expires in 399 days"},
		{"tls expiring: warning", soonSrv.URL + "/ok", "{" + ca("soon.pem", soonCA) + "}", time.Second, checks.Warning, "certificate expires in 5 days"},
		{"tls expiring: thresholds moved", soonSrv.URL + "/ok", "{" + ca("soon.pem", soonCA) + ", cert_warning_days: 3, cert_critical_days: 1}", time.Second, checks.OK, "cert expires in 5 days"},
		{"tls expiring: critical", dyingSrv.URL + "/ok", "{" + ca("dying.pem", dyingCA) + "}", time.Second, checks.Critical, "certificate expires in 1 day"},
		{"tls expired, verified", expSrv.URL + "/ok", "{" + ca("exp.pem", expiredCA) + "}", time.Second, checks.Critical, "certificate expired or not yet valid"},
		{"tls expired, skip verify", expSrv.URL + "/ok", "{insecure_skip_verify: true}", time.Second, checks.Critical, "certificate expired on " + time.Now().Add(-24*time.Hour).UTC().Format("2006-01-02")},
		{"tls expired but body fine", expSrv.URL + "/ok", "{insecure_skip_verify: true, body_contains: Welcome}", time.Second, checks.Critical, "200 OK in"},
		{"tls on a plain server", "https://" + strings.TrimPrefix(plain.URL, "http://") + "/ok", "", time.Second, checks.Critical, "TLS with 127.0.0.1"},
		{"slow warning", plain.URL + "/ok", "{warning_ms: 0.000001}", time.Second, checks.Warning, "slower than 1e-06 ms"},
		{"slow critical", plain.URL + "/ok", "{warning_ms: 0.000001, critical_ms: 0.000002}", time.Second, checks.Critical, "slower than 2e-06 ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, build(t, "http", tc.target, tc.opts, tc.timeout), tc.timeout)
			want(t, r, tc.status, tc.detail)
			if strings.Contains(r.Detail, " in ") && (!r.HasValue || r.Value <= 0 || r.Latency <= 0) {
				t.Fatalf("an answer without a response time: %+v", r)
			}
			if strings.Contains(r.Detail, "\n") {
				t.Fatalf("detail is not one line: %q", r.Detail)
			}
		})
	}
}

// TestHTTPFreshConnectionEachRun proves that a check does not ride on a
// pooled connection: a listener that dies is seen on the next run.
func TestHTTPFreshConnectionEachRun(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	c := build(t, "http", srv.URL+"/", "", time.Second)
	for i := 0; i < 3; i++ {
		want(t, run(t, c, time.Second), checks.OK, "200 OK")
	}
	srv.Close() // also closes idle connections, and waits for ConnState
	if n := conns.Load(); n != 3 {
		t.Fatalf("3 runs used %d connections", n)
	}
	want(t, run(t, c, time.Second), checks.Critical, "connection refused")
}

// BenchmarkHTTPCheck is one HTTP check (fresh connection, GET, status
// and body match) against a loopback httptest server in this process.
// ns/op includes the server's work; allocs/op is the check's plus the
// server's. See docs/checks-network.md for figures.
func BenchmarkHTTPCheck(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok outpost\n") })
	srv := httptest.NewServer(h)
	defer srv.Close()
	cert, caPEM := certPair(b, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	tlsSrv := tlsServer(b, cert, h)
	caFile := writeFile(b, "ca.pem", caPEM)
	for _, bc := range []struct{ name, target, opts string }{
		{"status", srv.URL + "/", ""},
		{"body_contains", srv.URL + "/", "{body_contains: outpost}"},
		{"https_verified", tlsSrv.URL + "/", "{ca_file: '" + caFile + "'}"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := "site: t\nchecks:\n  - {id: c, kind: http, target: '" + bc.target + "'"
			if bc.opts != "" {
				cfg += ", options: " + bc.opts
			}
			c := buildFromYAML(b, cfg+"}\n")
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				r := c.Check(ctx)
				cancel()
				if r.Status != checks.OK {
					b.Fatalf("check: %+v", r)
				}
			}
		})
	}
}
