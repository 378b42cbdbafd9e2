package checks_test

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
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"outpost/appliance/config"
	"outpost/checks"
)

// build makes a checker from a YAML options snippet through the real
// config decoder, exactly as a site file would.
func build(t *testing.T, kind, target, options string, timeout time.Duration) checks.Checker {
	t.Helper()
	y := "site: t\nchecks:\n  - id: c\n    kind: " + kind + "\n    target: '" + target + "'\n    interval: 30s\n    timeout: " + timeout.String() + "\n"
	if options != "" {
		y += "    options: " + options + "\n"
	}
	cfg, err := config.Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	c, err := checks.Build(cfg.Specs()[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c checks.Checker, timeout time.Duration) checks.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

func want(t *testing.T, r checks.Result, st checks.Status, detail string) {
	t.Helper()
	if r.Status != st || !strings.Contains(r.Detail, detail) {
		t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Detail, st, detail)
	}
}

func TestTCP(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "220 mail.acme.test ESMTP ready\r\n")
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	r := run(t, build(t, "tcp", addr, "", 2*time.Second), 2*time.Second)
	want(t, r, checks.OK, "connected in")
	if !r.HasValue || r.Value <= 0 {
		t.Fatalf("no connect time value: %+v", r)
	}
	want(t, run(t, build(t, "tcp", addr, "{banner: ESMTP}", 2*time.Second), 2*time.Second), checks.OK, `banner "220 mail.acme.test ESMTP ready"`)
	want(t, run(t, build(t, "tcp", addr, "{banner: SSH-2.0}", 2*time.Second), 2*time.Second), checks.Critical, `banner "SSH-2.0" not found`)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	caddr := closed.Addr().String()
	closed.Close()
	want(t, run(t, build(t, "tcp", caddr, "", 2*time.Second), 2*time.Second), checks.Critical, "connection refused")
	// A server that accepts but never speaks: the banner wait ends at
	// the check's deadline.
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	want(t, run(t, build(t, "tcp", silent.Addr().String(), "{banner: hello}", 300*time.Millisecond), 300*time.Millisecond), checks.Critical, "timed out")
	if time.Since(start) > 2*time.Second {
		t.Fatal("deadline not respected")
	}
}

// certPair makes a CA and a leaf for 127.0.0.1 valid until notAfter.
func certPair(t *testing.T, notBefore, notAfter time.Time) (tls.Certificate, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, lt, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func tlsServer(t *testing.T, cert tls.Certificate, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func TestHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "" {
			w.Header().Set("X-Seen", r.Header.Get("X-Token"))
		}
		io.WriteString(w, "Welcome to the Acme intranet, version 4.2")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", 500) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "s3cret" {
			http.Error(w, "no token", 401)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) })
	plain := httptest.NewServer(mux)
	defer plain.Close()

	good, caPEM := certPair(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	soon, soonCA := certPair(t, time.Now().Add(-time.Hour), time.Now().Add(5*24*time.Hour+time.Hour))
	dying, dyingCA := certPair(t, time.Now().Add(-time.Hour), time.Now().Add(36*time.Hour))
	expired, expiredCA := certPair(t, time.Now().Add(-60*24*time.Hour), time.Now().Add(-24*time.Hour))
	dir := t.TempDir()
	caFile := func(name string, pemBytes []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, pemBytes, 0o644)
		return p
	}
	goodSrv, soonSrv, dyingSrv, expSrv := tlsServer(t, good, mux), tlsServer(t, soon, mux), tlsServer(t, dying, mux), tlsServer(t, expired, mux)

	cases := []struct {
		name, target, opts string
		timeout            time.Duration
		status             checks.Status
		detail             string
	}{
		{"ok", plain.URL + "/ok", "", time.Second, checks.OK, "200 OK in"},
		{"500", plain.URL + "/fail", "", time.Second, checks.Critical, "unexpected status 500 Internal Server Error"},
		{"500 expected", plain.URL + "/fail", "{expect_status: [500]}", time.Second, checks.OK, "500 Internal Server Error"},
		{"body contains", plain.URL + "/ok", "{body_contains: Acme intranet}", time.Second, checks.OK, "200 OK"},
		{"body lacks", plain.URL + "/ok", "{body_contains: Contoso}", time.Second, checks.Critical, `body lacks "Contoso"`},
		{"regex", plain.URL + "/ok", `{body_regex: 'version 4\.\d'}`, time.Second, checks.OK, "200 OK"},
		{"regex miss", plain.URL + "/ok", `{body_regex: 'version 5\.\d'}`, time.Second, checks.Critical, "does not match"},
		{"redirect followed", plain.URL + "/moved", "{body_contains: Welcome}", time.Second, checks.OK, "200 OK"},
		{"redirect not followed", plain.URL + "/moved", "{follow_redirects: false}", time.Second, checks.OK, "302 Found"},
		{"redirect not followed, expected 200", plain.URL + "/moved", "{follow_redirects: false, expect_status: [200]}", time.Second, checks.Critical, "unexpected status 302"},
		{"header", plain.URL + "/header", "{headers: {X-Token: s3cret}}", time.Second, checks.OK, "200 OK"},
		{"header missing", plain.URL + "/header", "", time.Second, checks.Critical, "401"},
		{"timeout", plain.URL + "/slow", "", 300 * time.Millisecond, checks.Critical, "timed out"},
		{"tls with CA", goodSrv.URL + "/ok", "{ca_file: '" + caFile("good.pem", caPEM) + "'}", time.Second, checks.OK, "cert expires in 89 days"},
		{"tls unknown CA", goodSrv.URL + "/ok", "", time.Second, checks.Critical, "unknown authority"},
		{"tls skip verify", goodSrv.URL + "/ok", "{insecure_skip_verify: true}", time.Second, checks.OK, "cert expires in 89 days"},
		{"tls expiring warning", soonSrv.URL + "/ok", "{ca_file: '" + caFile("soon.pem", soonCA) + "'}", time.Second, checks.Warning, "certificate expires in 5 days"},
		{"tls expiring critical", dyingSrv.URL + "/ok", "{ca_file: '" + caFile("dying.pem", dyingCA) + "'}", time.Second, checks.Critical, "certificate expires in 1 days"},
		{"tls expired verified", expSrv.URL + "/ok", "{ca_file: '" + caFile("exp.pem", expiredCA) + "'}", time.Second, checks.Critical, "certificate expired"},
		{"tls expired skip verify", expSrv.URL + "/ok", "{insecure_skip_verify: true}", time.Second, checks.Critical, "certificate expired on"},
		{"slow warning", plain.URL + "/ok", "{warning_ms: 0.000001}", time.Second, checks.Warning, "slower than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, build(t, "http", tc.target, tc.opts, tc.timeout), tc.timeout+time.Second)
			want(t, r, tc.status, tc.detail)
			if tc.status != checks.Critical && (!r.HasValue || r.Latency <= 0) {
				t.Fatalf("no response time: %+v", r)
			}
		})
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	u := "http://" + closed.Addr().String() + "/"
	closed.Close()
	want(t, run(t, build(t, "http", u, "", time.Second), time.Second), checks.Critical, "connection refused")
}

func TestDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("acme.test.", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch q.Question[0].Qtype {
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 10)})
		case dns.TypeMX:
			m.Answer = append(m.Answer, &dns.MX{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60}, Preference: 10, Mx: "mail.acme.test."})
		}
		w.WriteMsg(m)
	})
	mux.HandleFunc("slow.test.", func(w dns.ResponseWriter, q *dns.Msg) { time.Sleep(time.Second) })
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	server := pc.LocalAddr().String()
	opts := func(extra string) string { return "{server: '" + server + "'" + extra + "}" }
	want(t, run(t, build(t, "dns", "acme.test", opts(""), time.Second), time.Second), checks.OK, "acme.test A = 192.0.2.10")
	want(t, run(t, build(t, "dns", "acme.test", opts(", expect: [192.0.2.10]"), time.Second), time.Second), checks.OK, "192.0.2.10")
	want(t, run(t, build(t, "dns", "acme.test", opts(", expect: [192.0.2.99]"), time.Second), time.Second), checks.Critical, "expected 192.0.2.99 missing")
	want(t, run(t, build(t, "dns", "acme.test", opts(", type: MX, expect: ['10 mail.acme.test']"), time.Second), time.Second), checks.OK, "MX = 10 mail.acme.test.")
	want(t, run(t, build(t, "dns", "nope.test", opts(""), time.Second), time.Second), checks.Critical, "NXDOMAIN")
	want(t, run(t, build(t, "dns", "slow.test", opts(""), 300*time.Millisecond), 300*time.Millisecond), checks.Critical, "timed out")
}

func TestPingLoopback(t *testing.T) {
	for _, priv := range []string{"true", "false"} {
		t.Run("privileged="+priv, func(t *testing.T) {
			r := run(t, build(t, "ping", "127.0.0.1", "{count: 3, packet_interval: 20ms, privileged: "+priv+"}", 2*time.Second), 3*time.Second)
			if r.Status == checks.Unknown && strings.Contains(r.Detail, "cannot send ICMP") {
				if os.Getenv("CI") == "" {
					t.Skipf("raw ICMP not permitted: %s", r.Detail)
				}
			}
			want(t, r, checks.OK, "3/3 replies")
			if !r.HasValue || r.Value <= 0 || r.Value > 50 {
				t.Fatalf("rtt %v", r.Value)
			}
		})
	}
}

func TestOptionErrorsNameFileLineField(t *testing.T) {
	cases := map[string]string{
		"site: t\nchecks:\n  - id: a\n    kind: http\n    target: http://127.0.0.1/\n    options: {expect_status: [abc]}\n": `t.yaml:6: checks[0].options.expect_status[0]: "abc" is not a whole number`,
		"site: t\nchecks:\n  - id: a\n    kind: http\n    target: 'ftp://127.0.0.1/'\n":                                     `t.yaml:3: checks[0].target: "ftp://127.0.0.1/" is not an http:// or https:// URL`,
		"site: t\nchecks:\n  - id: a\n    kind: tcp\n    target: 127.0.0.1:25\n    options:\n      bannr: ESMTP\n":          `t.yaml:7: checks[0].options.bannr: unknown field (expected one of banner, below, critical, send, tls, verify, warning)`,
		"site: t\nchecks:\n  - id: a\n    kind: tcp\n    target: 127.0.0.1\n":                                               `t.yaml:3: checks[0].target: "127.0.0.1" is not host:port`,
		"site: t\nchecks:\n  - id: a\n    kind: dns\n    target: acme.test\n    options: {type: BOGUS}\n":                   `t.yaml:6: checks[0].options.type: "BOGUS" is not one of A, AAAA, CNAME, MX, TXT, PTR, NS, SRV, SOA`,
		"site: t\nchecks:\n  - id: a\n    kind: ping\n    target: 127.0.0.1\n    timeout: 1s\n    options: {count: 20}\n":   `t.yaml:7: checks[0].options.count: 20 packets 200ms apart do not fit in the timeout 1s`,
		"site: t\nchecks:\n  - id: a\n    kind: http\n    target: http://127.0.0.1/\n    options: {body_regex: '(['}\n":     "t.yaml:6: checks[0].options.body_regex: error parsing regexp: missing closing ]: `[`",
	}
	for y, wantErr := range cases {
		_, err := config.Parse("t.yaml", []byte(y))
		if err == nil || err.Error() != wantErr {
			t.Errorf("config:\n%s\ngot:  %v\nwant: %s", y, err, wantErr)
		}
	}
}

func buildB(b *testing.B, kind, target string) checks.Checker {
	b.Helper()
	cfg, err := config.Parse("t.yaml", []byte("site: t\nchecks:\n  - {id: c, kind: "+kind+", target: '"+target+"'}\n"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := checks.Build(cfg.Specs()[0])
	if err != nil {
		b.Fatal(err)
	}
	return c
}
