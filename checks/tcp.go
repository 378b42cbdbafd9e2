package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "tcp", Summary: "TCP connect to host:port, optional banner match", NeedsTarget: true, New: newTCP})
}

// TCP connects to a port and, optionally, checks what the server says
// first (an SMTP or SSH banner).
type TCP struct {
	addr string
	o    tcpOptions
}

var _ Checker = (*TCP)(nil)

type tcpOptions struct {
	// Banner is a substring expected in the first bytes the server sends.
	Banner string `yaml:"banner"`
	// Send is written before reading the banner.
	Send string `yaml:"send"`
	// TLS does a TLS handshake after connecting (certificate not verified
	// unless verify is set: this checks the service answers).
	TLS    bool `yaml:"tls"`
	Verify bool `yaml:"verify"`
	Thresholds
}

func newTCP(s Spec) (Checker, error) {
	t := &TCP{addr: s.Target}
	if err := s.Options.Decode(&t.o); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(s.Target)
	if err != nil || host == "" || port == "" {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not host:port", s.Target)}
	}
	return t, nil
}

// Check connects and reads the banner if one is expected.
func (t *TCP) Check(ctx context.Context) Result {
	start := time.Now()
	conn, err := dialTCP(ctx, t.addr)
	if err != nil {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: "connect: " + netReason(err)}
	}
	defer conn.Close()
	connectTime := Since(start)
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if t.o.TLS {
		host, _, _ := net.SplitHostPort(t.addr)
		tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: !t.o.Verify})
		if err := tc.HandshakeContext(ctx); err != nil {
			return Result{Time: start, Status: Critical, Latency: Since(start), Detail: "TLS handshake: " + netReason(err)}
		}
		conn = tc
	}
	r := Result{Time: start, Status: OK, Latency: connectTime}.WithValue(ms(connectTime))
	r.Detail = fmt.Sprintf("connected in %s", fmtMS(connectTime))
	if t.o.Send != "" {
		if _, err := conn.Write([]byte(t.o.Send)); err != nil {
			r.Status, r.Detail = Critical, "send: "+netReason(err)
			return r
		}
	}
	if t.o.Banner != "" {
		buf := make([]byte, 1024)
		n, err := readSome(conn, buf, t.o.Banner)
		got := string(buf[:n])
		if !strings.Contains(got, t.o.Banner) {
			why := fmt.Sprintf("banner %q not found in %q", t.o.Banner, printable(got))
			if err != nil && n == 0 {
				why = fmt.Sprintf("no banner (expected %q): %s", t.o.Banner, netReason(err))
			}
			r.Status, r.Detail = Critical, why
			return r
		}
		r.Detail += fmt.Sprintf(", banner %q", printable(strings.TrimSpace(firstLine(got))))
	}
	if st := t.o.Eval(ms(connectTime)); st != OK {
		r.Status = st
		r.Detail += " (slow)"
	}
	return r
}

// readSome reads until want appears, the buffer fills, or the deadline.
func readSome(c net.Conn, buf []byte, want string) (int, error) {
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
	case strings.Contains(s, "i/o timeout"), strings.Contains(s, "deadline exceeded"):
		return "timed out"
	case strings.Contains(s, "no such host"):
		return "no such host"
	case strings.Contains(s, "network is unreachable"):
		return "network unreachable"
	case strings.Contains(s, "no route to host"):
		return "no route to host"
	case strings.Contains(s, "connection reset"):
		return "connection reset by peer"
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
