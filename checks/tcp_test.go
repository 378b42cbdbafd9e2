package checks_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"outpost/checks"
)

// listen starts a loopback TCP listener whose connections are handled by
// serve; it is closed when the test ends.
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

// refusedAddr is a loopback port with nothing listening.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hang keeps a connection open without a word until the test ends, so a
// check can only finish through its own deadline.
func hang(t *testing.T) func(net.Conn) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return func(c net.Conn) { <-stop }
}

func TestTCP(t *testing.T) {
	smtp := listen(t, func(c net.Conn) { io.WriteString(c, "220 mail.acme.test ESMTP ready\r\n") })
	// A line protocol that answers only when spoken to (like Redis).
	pingPong := listen(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "PING\r\n" {
			io.WriteString(c, "+PONG\r\n")
		} else {
			io.WriteString(c, "-ERR unknown command\r\n")
		}
	})
	silent := listen(t, hang(t))
	cert, caPEM := certPair(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	caFile := writeFile(t, "ca.pem", caPEM)
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tlsLn.Close() })
	go func() {
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.WriteString(c, "* OK IMAP4rev1 ready\r\n") }()
		}
	}()
	imaps := tlsLn.Addr().String()

	cases := []struct {
		name, target, opts string
		timeout            time.Duration
		status             checks.Status
		detail             string
	}{
		{"connect", smtp, "", 2 * time.Second, checks.OK, "connected in"},
		{"banner", smtp, "{banner: ESMTP}", 2 * time.Second, checks.OK, `banner "220 mail.acme.test ESMTP ready"`},
		{"banner mismatch", smtp, "{banner: SSH-2.0}", 2 * time.Second, checks.Critical, `banner "SSH-2.0" not found in "220 mail.acme.test ESMTP ready.."`},
		{"send then banner", pingPong, `{send: "PING\r\n", banner: "+PONG"}`, 2 * time.Second, checks.OK, `banner "+PONG"`},
		{"send wrong thing", pingPong, `{send: "HELLO\r\n", banner: "+PONG"}`, 2 * time.Second, checks.Critical, `not found in "-ERR unknown command.."`},
		{"refused", refusedAddr(t), "", 2 * time.Second, checks.Critical, "connection refused"},
		{"silent server, banner wait ends at the deadline", silent, "{banner: hello}", 300 * time.Millisecond, checks.Critical, `no banner (expected "hello"): timed out`},
		{"tls verifies by default", imaps, "{tls: true, banner: '* OK'}", 2 * time.Second, checks.Critical, "TLS handshake failed: certificate signed by an unknown authority (set options.ca_file, or insecure_skip_verify for a self-signed device)"},
		{"tls verify true is the default", imaps, "{tls: true, verify: true}", 2 * time.Second, checks.Critical, "unknown authority"},
		{"tls with ca_file", imaps, "{tls: true, ca_file: '" + caFile + "', banner: '* OK'}", 2 * time.Second, checks.OK, `TLS 1.3, banner "* OK IMAP4rev1 ready"`},
		{"tls with verification skipped", imaps, "{tls: true, insecure_skip_verify: true, banner: '* OK'}", 2 * time.Second, checks.OK, `TLS 1.3 (certificate not verified), banner "* OK IMAP4rev1 ready"`},
		{"tls verify false is the old opt-out", imaps, "{tls: true, verify: false}", 2 * time.Second, checks.OK, `TLS 1.3 (certificate not verified)`},
		{"tls on a plain port", smtp, "{tls: true}", 2 * time.Second, checks.Critical, "TLS handshake failed"},
		{"tls on a silent port", silent, "{tls: true}", 300 * time.Millisecond, checks.Critical, "TLS handshake failed: timed out"},
		{"slow connect warning", smtp, "{warning_ms: 0.000001}", 2 * time.Second, checks.Warning, "(slow connect)"},
		{"slow connect critical", smtp, "{warning_ms: 0.000001, critical_ms: 0.000002}", 2 * time.Second, checks.Critical, "(slow connect)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, build(t, "tcp", tc.target, tc.opts, tc.timeout), tc.timeout)
			want(t, r, tc.status, tc.detail)
			if strings.HasPrefix(r.Detail, "connected") && (!r.HasValue || r.Value <= 0 || r.Latency <= 0) {
				t.Fatalf("no connect time: %+v", r)
			}
		})
	}
}
