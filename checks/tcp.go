package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "tcp", Summary: "TCP connect to host:port, optional send, banner match and TLS handshake", NeedsTarget: true, New: newTCP})
}

// TCP connects to a port and, optionally, checks what the server says
// first (an SMTP or SSH banner) or that it completes a TLS handshake.
type TCP struct {
	addr string
	tls  *tls.Config // nil unless options.tls
	send []byte
	o    tcpOptions
}

var _ Checker = (*TCP)(nil)

type tcpOptions struct {
	// Banner is a substring expected in the first bytes the server sends.
	Banner string `yaml:"banner"`
	// Send is written after connecting (and after the TLS handshake),
	// before reading the banner.
	Send string `yaml:"send"`
	// TLS does a TLS handshake after connecting, verifying the certificate
	// against the system roots (or CAFile) and the target's host name, as
	// the http kind does. InsecureSkipVerify (the http kind's name) opts
	// out; Verify is the older option: true is the default, false the same
	// as InsecureSkipVerify.
	TLS                bool    `yaml:"tls"`
	InsecureSkipVerify bool    `yaml:"insecure_skip_verify"`
	CAFile             string  `yaml:"ca_file"`
	Verify             *bool   `yaml:"verify"`
	WarningMS          float64 `yaml:"warning_ms"`
	CriticalMS         float64 `yaml:"critical_ms"`
}

// bannerMax bounds how much of a greeting is read while looking for the
// expected banner: greetings are one line, a talkative server must not
// keep the check reading.
const bannerMax = 1024

func newTCP(s Spec, _ Deps) (Checker, error) {
	t := &TCP{addr: s.Target}
	if err := s.Options.Decode(&t.o); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(s.Target)
	if err != nil || host == "" || port == "" {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not host:port", s.Target)}
	}
	if err := checkPort(port); err != nil {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q: %s", s.Target, err)}
	}
	if err := t.o.checkTLS(); err != nil {
		return nil, err
	}
	if err := checkMS(t.o.WarningMS, t.o.CriticalMS); err != nil {
		return nil, err
	}
	if t.o.TLS {
		skip := t.o.InsecureSkipVerify || t.o.Verify != nil && !*t.o.Verify
		t.tls = &tls.Config{ServerName: host, InsecureSkipVerify: skip, MinVersion: tls.VersionTLS12}
		if t.o.CAFile != "" {
			pool, err := caPool(t.o.CAFile)
			if err != nil {
				return nil, err
			}
			t.tls.RootCAs = pool
		}
	}
	if t.o.Send != "" {
		t.send = []byte(t.o.Send)
	}
	return t, nil
}

// checkTLS refuses TLS options without tls: true and opt-outs that
// contradict a request to verify.
func (o *tcpOptions) checkTLS() error {
	if !o.TLS {
		switch {
		case o.Verify != nil:
			return &FieldError{Field: "options.verify", Msg: "needs tls: true"}
		case o.InsecureSkipVerify:
			return &FieldError{Field: "options.insecure_skip_verify", Msg: "needs tls: true"}
		case o.CAFile != "":
			return &FieldError{Field: "options.ca_file", Msg: "needs tls: true"}
		}
	}
	if o.InsecureSkipVerify {
		switch {
		case o.Verify != nil && *o.Verify:
			return &FieldError{Field: "options.insecure_skip_verify", Msg: "contradicts verify: true"}
		case o.CAFile != "":
			return &FieldError{Field: "options.insecure_skip_verify", Msg: "contradicts ca_file (which certificates would be trusted?)"}
		}
	}
	if o.CAFile != "" && o.Verify != nil && !*o.Verify {
		return &FieldError{Field: "options.verify", Msg: "false contradicts ca_file (which certificates would be trusted?)"}
	}
	return nil
}

// caPool reads options.ca_file: the CAs trusted instead of the system roots.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, &FieldError{Field: "options.ca_file", Msg: err.Error()}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &FieldError{Field: "options.ca_file", Msg: "no PEM certificate in " + file}
	}
	return pool, nil
}

// checkPort accepts a decimal port 1..65535.
func checkPort(p string) error {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

// checkMS validates the optional warning_ms / critical_ms pair shared by
// the network kinds.
func checkMS(warn, crit float64) error {
	switch {
	case warn < 0:
		return &FieldError{Field: "options.warning_ms", Msg: fmt.Sprintf("%g is negative", warn)}
	case crit < 0:
		return &FieldError{Field: "options.critical_ms", Msg: fmt.Sprintf("%g is negative", crit)}
	case warn > 0 && crit > 0 && warn > crit:
		return &FieldError{Field: "options.warning_ms", Msg: fmt.Sprintf("%g is above critical_ms %g", warn, crit)}
	}
	return nil
}

// evalMS judges a time in ms against warning_ms / critical_ms (0 = off).
func evalMS(v, warn, crit float64) Status {
	switch {
	case crit > 0 && v > crit:
		return Critical
	case warn > 0 && v > warn:
		return Warning
	}
	return OK
}

// Check connects, does the TLS handshake, sends and reads the banner as
// configured.
func (t *TCP) Check(ctx context.Context) Result {
	start := time.Now()
	conn, err := dialTCP(ctx, t.addr)
	if err != nil {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: "connect " + t.addr + ": " + netReason(err)}
	}
	defer conn.Close()
	connectTime := Since(start)
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := Result{Time: start, Status: OK, Latency: connectTime}.WithValue(ms(connectTime))
	r.Detail = "connected in " + fmtMS(connectTime)
	if t.tls != nil {
		tc := tls.Client(conn, t.tls)
		if err := handshake(ctx, tc); err != nil {
			r.Status, r.Detail = Critical, r.Detail+", TLS handshake failed: "+tlsReason(err)
			return r
		}
		conn = tc
		r.Detail += ", " + tls.VersionName(tc.ConnectionState().Version)
		if t.tls.InsecureSkipVerify {
			r.Detail += " (certificate not verified)"
		}
	}
	if t.send != nil {
		if _, err := conn.Write(t.send); err != nil {
			r.Status, r.Detail = Critical, r.Detail+", send failed: "+netReason(err)
			return r
		}
	}
	if t.o.Banner != "" {
		buf := make([]byte, bannerMax)
		n, err := readUntil(conn, buf, t.o.Banner)
		got := string(buf[:n])
		if !strings.Contains(got, t.o.Banner) {
			if n == 0 && err != nil {
				r.Detail += fmt.Sprintf(", no banner (expected %q): %s", t.o.Banner, netReason(err))
			} else {
				r.Detail += fmt.Sprintf(", banner %q not found in %q", t.o.Banner, printable(got))
			}
			r.Status = Critical
			return r
		}
		r.Detail += fmt.Sprintf(", banner %q", printable(strings.TrimSpace(firstLine(got))))
	}
	if st := evalMS(ms(connectTime), t.o.WarningMS, t.o.CriticalMS); st != OK {
		r.Status = st
		r.Detail += " (slow connect)"
	}
	return r
}

// handshake runs the TLS handshake bounded by the connection's deadline,
// which the caller set from ctx. HandshakeContext would also close the
// connection from another goroutine on cancellation; on the blocking
// sockets of dial_linux.go that would race a read in progress, so it is
// used only when ctx has no deadline (and the conn came from net.Dialer).
func handshake(ctx context.Context, tc *tls.Conn) error {
	if _, ok := ctx.Deadline(); ok {
		return tc.Handshake()
	}
	return tc.HandshakeContext(ctx)
}

// readUntil reads until want appears, the buffer fills, the peer closes
// or the deadline passes.
func readUntil(c net.Conn, buf []byte, want string) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if strings.Contains(string(buf[:n]), want) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// printable keeps a server's bytes fit for a one-line detail.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return '.'
		}
		return r
	}, s)
}

// netReason shortens Go's network errors to what a technician needs:
// "connection refused", "timed out", "no such host".
func netReason(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case strings.Contains(s, "i/o timeout"), strings.Contains(s, "deadline exceeded"), strings.Contains(s, "timed out"):
		return "timed out"
	case strings.Contains(s, "no such host"):
		return "no such host"
	case strings.Contains(s, "network is unreachable"):
		return "network unreachable"
	case strings.Contains(s, "no route to host"):
		return "no route to host"
	case strings.Contains(s, "connection reset"):
		return "connection reset by peer"
	case strings.Contains(s, "operation not permitted"), strings.Contains(s, "permission denied"):
		return "operation not permitted"
	case strings.Contains(s, "context canceled"):
		return "cancelled"
	}
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		return s[i+2:]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMS(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", ms(d))
	}
	return fmt.Sprintf("%.0f ms", ms(d))
}
