package syslog

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// patience bounds one awaited event: generous, since a busy machine runs
// the peers many times slower; a wait ends as soon as its event happens.
const patience = 90 * time.Second

// tool finds a real peer's program, or skips (fails under CI, where make
// test installs it).
func tool(t *testing.T, name, deb string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (make test installs Debian's %s)", name, deb)
	}
	t.Skipf("%s is not installed (Debian's %s)", name, deb)
	return ""
}

// events collects what a receiver accepts.
type events struct {
	mu  sync.Mutex
	evs []checks.Event
}

func (e *events) add(ev checks.Event) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

func (e *events) all() []checks.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]checks.Event(nil), e.evs...)
}

// wait returns the first event whose detail contains text.
func (e *events) wait(t *testing.T, text string) checks.Event {
	t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		for _, ev := range e.all() {
			if strings.Contains(ev.Detail, text) {
				return ev
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for _, ev := range e.all() {
		got = append(got, ev.Detail)
	}
	t.Fatalf("waited %s for a line with %q; got %q", patience, text, got)
	return checks.Event{}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "outpost-test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startReceiver runs a receiver on loopback ports chosen by the kernel.
func startReceiver(t *testing.T, o Options) (*Receiver, *events) {
	t.Helper()
	got := &events{}
	o.OnEvent = got.add
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r, got
}

func loopbackPolicy() Policy {
	return Policy{Devices: []Device{{Name: "gw", Address: "127.0.0.1"}}}
}

func port(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// util-linux logger, as a Linux server sends: RFC 5424 over UDP, RFC
// 3164 over UDP, and RFC 5424 over TCP with octet counting; each line is
// the configured device's, parsed.
func TestLoggerLinesArrive(t *testing.T) {
	logger := tool(t, "logger", "bsdutils")
	r, got := startReceiver(t, Options{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", Policy: loopbackPolicy()})
	udp, tcp, _ := r.Addrs()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v %s", args, err, out)
		}
	}
	run("--udp", "-n", "127.0.0.1", "-P", port(udp), "-t", "backup", "-p", "local3.err", "--sd-id", "job@32473", "--sd-param", `name="nightly"`, "nightly backup failed: disk full")
	ev := got.wait(t, "nightly backup failed")
	f := ev.Fields
	if ev.Device != "gw" || ev.Name != "backup" || ev.Source != checks.SourceSyslog || ev.Severity != checks.Warning ||
		f["facility"] != "local3" || f["severity"] != "err" || f["format"] != "rfc5424" || f["transport"] != "udp" || f["sd.job@32473.name"] != "nightly" || f["host"] == "" {
		t.Fatalf("logger --udp (RFC 5424): %+v", ev)
	}
	run("--udp", "--rfc3164", "-n", "127.0.0.1", "-P", port(udp), "-t", "sshd", "-p", "auth.warning", "Failed password for root")
	ev = got.wait(t, "Failed password for root")
	if ev.Name != "sshd" || ev.Fields["facility"] != "auth" || ev.Fields["severity"] != "warning" || ev.Fields["format"] != "rfc3164" {
		t.Fatalf("logger --udp --rfc3164: %+v", ev)
	}
	run("--rfc5424", "--tcp", "--octet-count", "-n", "127.0.0.1", "-P", port(tcp), "-t", "kernel", "-p", "kern.crit", "--msgid", "OOM", "Out of memory: killed process 4711")
	ev = got.wait(t, "Out of memory")
	if ev.Name != "kernel" || ev.Fields["msgid"] != "OOM" || ev.Fields["severity"] != "crit" || ev.Severity != checks.Critical || ev.Fields["transport"] != "tcp" {
		t.Fatalf("logger --tcp --octet-count: %+v", ev)
	}
	if st := r.Stats(); st.Accepted != 3 || st.Connections != 1 || st.Raw != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// rsyslog forwards, as a site's log server or appliance does: the
// traditional RFC 3164 format over UDP, RFC 5424 over TCP with octet
// counting, and RFC 5424 over TLS (RFC 5425) to the box's certificate.
// rsyslogd runs with its own config in a temp dir, fed by logger on its
// own loopback input, forwarding only to 127.0.0.1.
func TestRsyslogForwards(t *testing.T) {
	rsyslogd := tool(t, "rsyslogd", "rsyslog")
	logger := tool(t, "logger", "bsdutils")
	drivers, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so")
	more, _ := filepath.Glob("/usr/lib/rsyslog/lmnsd_gtls.so")
	tlsOK := len(drivers)+len(more) > 0
	if !tlsOK && os.Getenv("CI") != "" {
		t.Fatal("rsyslog's TLS driver is not installed (make test installs Debian's rsyslog-gnutls)")
	}
	r, got := startReceiver(t, Options{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", TLS: "127.0.0.1:0", Policy: loopbackPolicy(),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: tls.VersionTLS12}})
	udp, tcp, tlsAddr := r.Addrs()
	in := freeTCPPort(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port=%q)
if $msg contains "via-udp" then action(type="omfwd" target="127.0.0.1" port=%q protocol="udp" template="RSYSLOG_TraditionalForwardFormat")
if $msg contains "via-tcp" then action(type="omfwd" target="127.0.0.1" port=%q protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
`, dir, in, port(udp), port(tcp))
	if tlsOK {
		conf += fmt.Sprintf(`if $msg contains "via-tls" then action(type="omfwd" target="127.0.0.1" port=%q protocol="tcp" StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="anon" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
`, port(tlsAddr))
	}
	cfg := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rsyslogd, "-N1", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1: %v\n%s", err, out)
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", cfg, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(patience)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+in)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd never listened on %s: %v\n%s", in, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	send := func(tag, prio, msg string) {
		t.Helper()
		if o, err := exec.Command(logger, "--rfc3164", "--tcp", "-n", "127.0.0.1", "-P", in, "-t", tag, "-p", prio, msg).CombinedOutput(); err != nil {
			t.Fatalf("logger to rsyslog: %v %s", err, o)
		}
	}
	send("ups", "daemon.alert", "via-udp: UPS on battery")
	ev := got.wait(t, "via-udp: UPS on battery")
	if ev.Device != "gw" || ev.Name != "ups" || ev.Fields["format"] != "rfc3164" || ev.Fields["facility"] != "daemon" || ev.Fields["severity"] != "alert" || ev.Fields["transport"] != "udp" {
		t.Fatalf("rsyslog over UDP: %+v", ev)
	}
	send("sshd", "authpriv.notice", "via-tcp: Accepted publickey for admin")
	ev = got.wait(t, "via-tcp: Accepted publickey")
	if ev.Name != "sshd" || ev.Fields["format"] != "rfc5424" || ev.Fields["facility"] != "authpriv" || ev.Fields["transport"] != "tcp" || ev.Fields["timestamp"] == "" {
		t.Fatalf("rsyslog over TCP: %+v", ev)
	}
	if !tlsOK {
		t.Log("rsyslog has no TLS driver (Debian's rsyslog-gnutls): TLS not tried with it")
		return
	}
	send("fw", "local7.err", "via-tls: deny tcp 203.0.113.5")
	ev = got.wait(t, "via-tls: deny tcp")
	if ev.Name != "fw" || ev.Fields["transport"] != "tls" || ev.Fields["severity"] != "err" {
		t.Fatalf("rsyslog over TLS: %+v", ev)
	}
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return port(ln.Addr())
}

// sendFrom sends datagrams from a socket bound to ip.
func sendFrom(t *testing.T, ip, to string, pkts ...[]byte) {
	t.Helper()
	c, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Skipf("cannot send from %s: %v", ip, err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp", to)
	for i, p := range pkts {
		if _, err := c.WriteTo(p, dst); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond) // the kernel keeps them all for the receiver
		}
	}
}

// waitStats waits until the receiver's counters satisfy ok.
func waitStats(t *testing.T, r *Receiver, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		st := r.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; stats %+v", patience, what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Hostile input is counted and bounded, never a crash: lines from an
// address that is no device, a flood over the sender's rate (the clock
// stands still, so exactly the burst is kept), binary garbage (kept as
// raw text, cleaned), lines far over the size cap, TCP streams that are
// not syslog, connections past the limit, TLS handshakes that fail, and
// a connection from a sender that is no longer configured.
func TestHostileInputIsCountedAndBounded(t *testing.T) {
	fc := clock.NewFake(time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC))
	pol := Policy{Devices: []Device{{Name: "gw", Address: "127.0.0.1"}}, Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}, PerSource: 10, Total: 1000, MaxConnections: 8}
	r, got := startReceiver(t, Options{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", TLS: "127.0.0.1:0", Clock: fc, Policy: pol,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}, Logf: func(string, ...any) {}})
	udp, tcp, tlsAddr := r.Addrs()

	line := func(i int) []byte { return []byte(fmt.Sprintf("<13>Mar  4 11:59:58 gw app: line %d", i)) }
	var pkts [][]byte
	for i := range 20 {
		pkts = append(pkts, line(i))
	}
	sendFrom(t, "127.0.0.2", udp.String(), pkts...)
	waitStats(t, r, "20 lines from 127.0.0.2 dropped as unknown", func(s Stats) bool { return s.Dropped[DropUnknownSource] == 20 })
	goroutines := runtime.NumGoroutine() // the receiver runs: its own, and no connection's
	if len(got.all()) != 0 {
		t.Fatalf("lines from an unknown source kept: %v", got.all())
	}
	// A subnet source is kept, named by its address.
	sendFrom(t, "127.0.0.3", udp.String(), []byte("<13>Mar  4 11:59:58 nas smbd: share full"))
	if ev := got.wait(t, "share full"); ev.Device != "127.0.0.3" {
		t.Fatalf("source line: %+v", ev)
	}

	// The sender's bucket holds 5 s of 10 lines/s: 50 of 200 are kept.
	pkts = pkts[:0]
	for i := range 200 {
		pkts = append(pkts, line(i))
	}
	sendFrom(t, "127.0.0.1", udp.String(), pkts...)
	st := waitStats(t, r, "the flood judged", func(s Stats) bool { return s.Accepted+s.Dropped[DropRateSource] >= 201 })
	if st.Accepted != 51 || st.Dropped[DropRateSource] != 150 {
		t.Fatalf("flood: %+v", st)
	}
	fc.Advance(time.Hour) // buckets refill

	// Garbage, an empty datagram and a line of 64 KiB.
	garbage := make([]byte, 1500)
	rand.Read(garbage)
	garbage[0] = 'G'
	sendFrom(t, "127.0.0.1", udp.String(), garbage, []byte("\n"), append([]byte("<13>Mar  4 11:59:58 gw app: huge "), []byte(strings.Repeat("x", 60_000))...))
	waitStats(t, r, "garbage judged", func(s Stats) bool { return s.Raw >= 1 && s.Truncated >= 1 && s.Dropped[DropEmpty] == 1 })
	for _, ev := range got.all() {
		if len(ev.Detail) > MaxLine+3 || strings.ContainsAny(ev.Detail, "\x00\n") {
			t.Fatalf("an unbounded or unclean line: %d bytes", len(ev.Detail))
		}
	}

	// A TCP stream that is not syslog framing is closed and counted.
	c, err := net.Dial("tcp", tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("99999999999 GET / HTTP/1.1\r\n"))
	c.SetReadDeadline(time.Now().Add(patience))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the receiver answered a bad stream")
	}
	c.Close()
	waitStats(t, r, "the bad stream counted", func(s Stats) bool { return s.Dropped[DropFraming] == 1 })

	// Connections past the limit (8 in all, 2 per sender) are closed.
	var held []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitStats(t, r, "2 connections held and 2 refused", func(s Stats) bool { return s.Open == 2 && s.Dropped[DropConnections] == 2 })
	for _, c := range held {
		c.Close()
	}
	waitStats(t, r, "the connections released", func(s Stats) bool { return s.Open == 0 })

	// A TLS port spoken to in clear text fails its handshake.
	c, err = net.Dial("tcp", tlsAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("<13>Mar  4 11:59:58 gw app: not TLS\n"))
	waitStats(t, r, "the failed handshake", func(s Stats) bool { return s.Dropped[DropTLS] == 1 })
	c.Close()

	// TLS works, and a sender removed by a new policy is cut off.
	tc, err := tls.Dial("tcp", tlsAddr.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	fmt.Fprintf(tc, "%d %s", len("<13>1 - gw app - - - over tls"), "<13>1 - gw app - - - over tls")
	got.wait(t, "over tls")
	r.SetPolicy(Policy{Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	before := r.Stats().Dropped[DropUnknownSource]
	fmt.Fprintf(tc, "%d %s", len("<13>1 - gw app - - - after"), "<13>1 - gw app - - - after")
	waitStats(t, r, "the removed sender dropped", func(s Stats) bool { return s.Dropped[DropUnknownSource] == before+1 && s.Open == 0 })

	waitFor(t, "the receiver's goroutines to go back to where they were", func() bool { return runtime.NumGoroutine() <= goroutines }, func() string {
		buf := make([]byte, 1<<20)
		return string(buf[:runtime.Stack(buf, true)])
	})
}

func waitFor(t *testing.T, what string, ok func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; state:\n%s", patience, what, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
