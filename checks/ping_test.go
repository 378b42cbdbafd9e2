//go:build linux

package checks_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/checks"
)

// needOrSkip fails under CI (make test sets things up) and skips
// elsewhere, with the reason.
func needOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func hasIPv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// pingAllowed reports whether this process may open ICMP sockets of the
// given kind, so a test can say why it skips.
func pingAllowed(privileged bool) bool {
	if privileged {
		return os.Geteuid() == 0
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return false
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return false
	}
	gid := os.Getgid()
	return lo <= gid && gid <= hi
}

func TestPingLoopback(t *testing.T) {
	type mode struct{ name, opt string }
	modes := []mode{{"unprivileged", "privileged: false"}, {"privileged", "privileged: true"}, {"automatic", ""}}
	for _, target := range []string{"127.0.0.1", "::1", "localhost"} {
		for _, m := range modes {
			t.Run(target+"/"+m.name, func(t *testing.T) {
				if target == "::1" && !hasIPv6Loopback() {
					t.Skip("no IPv6 loopback on this machine")
				}
				switch {
				case m.opt == "privileged: true" && !pingAllowed(true):
					needOrSkip(t, "raw ICMP sockets need root or CAP_NET_RAW")
				case m.opt == "privileged: false" && !pingAllowed(false):
					needOrSkip(t, "unprivileged ICMP needs this group in net.ipv4.ping_group_range (make test sets it)")
				}
				opts := "{count: 3, packet_interval: 20ms"
				if m.opt != "" {
					opts += ", " + m.opt
				}
				r := run(t, build(t, "ping", target, opts+"}", 2*time.Second), 2*time.Second)
				want(t, r, checks.OK, "3/3 replies, rtt min/avg/max ")
				if !strings.HasSuffix(r.Detail, " ms, 0% loss") {
					t.Fatalf("detail %q", r.Detail)
				}
				if !r.HasValue || r.Value <= 0 || r.Value > 1000 || r.Latency <= 0 {
					t.Fatalf("rtt value %v latency %v", r.Value, r.Latency)
				}
			})
		}
	}
	// Any real round trip is over a nanosecond: the thresholds must fire.
	for _, tc := range []struct {
		opts   string
		status checks.Status
	}{
		{"warning_ms: 1000", checks.OK},
		{"warning_ms: 0.000001", checks.Warning},
		{"warning_ms: 0.000001, critical_ms: 0.000002", checks.Critical},
	} {
		t.Run("rtt "+tc.opts, func(t *testing.T) {
			r := run(t, build(t, "ping", "127.0.0.1", "{count: 2, packet_interval: 20ms, "+tc.opts+"}", 2*time.Second), 2*time.Second)
			want(t, r, tc.status, "2/2 replies")
		})
	}
	t.Run("unresolvable", func(t *testing.T) {
		r := run(t, build(t, "ping", "no-such-host.invalid", "{count: 1}", time.Second), time.Second)
		want(t, r, checks.Critical, "resolve no-such-host.invalid: ")
	})
}

// The cases below change sysctls, so they run in a network
// namespace of their own: the test binary re-runs itself as a child with
// CLONE_NEWNET, where only its own loopback exists.
const pingNetnsEnv = "OUTPOST_PING_NETNS"

func TestPingNetns(t *testing.T) {
	if os.Getenv(pingNetnsEnv) == "1" {
		pingNetnsCases(t)
		return
	}
	if os.Geteuid() != 0 {
		needOrSkip(t, "creating a network namespace needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		needOrSkip(t, "ip (Debian package iproute2) is not installed")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPingNetns$", "-test.v", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), pingNetnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	t.Logf("in a new network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("namespace run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestPingNetns/") {
		t.Fatal("the namespace run did not run its cases")
	}
}

// pingNetnsCases runs inside the child's fresh network namespace.
func pingNetnsCases(t *testing.T) {
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sysctl := func(name, value string) {
		t.Helper()
		if err := os.WriteFile("/proc/sys/net/"+strings.ReplaceAll(name, ".", "/"), []byte(value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh("ip", "link", "set", "lo", "up")
	// No group may use unprivileged ICMP sockets in this namespace.
	sysctl("ipv4.ping_group_range", "1 0")

	t.Run("unprivileged refused", func(t *testing.T) {
		r := run(t, build(t, "ping", "127.0.0.1", "{count: 1, privileged: false}", time.Second), time.Second)
		want(t, r, checks.Unknown, "cannot open an ICMP socket: ")
		want(t, r, checks.Unknown, "privileged: false needs Outpost's group in sysctl net.ipv4.ping_group_range")
	})
	t.Run("automatic falls back to raw", func(t *testing.T) {
		c := build(t, "ping", "127.0.0.1", "{count: 2, packet_interval: 20ms}", time.Second)
		for i := 0; i < 2; i++ { // the second run uses the remembered mode
			want(t, run(t, c, time.Second), checks.OK, "2/2 replies")
		}
	})
	t.Run("no replies", func(t *testing.T) {
		sysctl("ipv4.icmp_echo_ignore_all", "1")
		defer sysctl("ipv4.icmp_echo_ignore_all", "0")
		r := run(t, build(t, "ping", "127.0.0.1", "{count: 2, packet_interval: 20ms, privileged: true}", 300*time.Millisecond), 300*time.Millisecond)
		want(t, r, checks.Critical, "0/2 replies, 100% loss")
		if r.HasValue {
			t.Fatalf("a value without replies: %+v", r)
		}
	})
}
