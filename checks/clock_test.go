package checks_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/ntp"

	"outpost/checks"
)

// chronyd starts a real NTP server (chrony) on a loopback port, serving
// this machine's clock without touching it (-x), and returns host:port.
func chronyd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chronyd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chronyd not installed (make test-deps installs chrony)")
		}
		t.Skip("chronyd not installed")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\npidfile %s/chronyd.pid\ndriftfile %s/drift\n", port, dir, dir)), 0o644)
	args := []string{"-x", "-d", "-f", conf}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	cmd := exec.Command(bin, args...)
	log, _ := os.Create(filepath.Join(dir, "chronyd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 200 * time.Millisecond}); err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "chronyd.log"))
			t.Fatalf("chronyd never answered on %s:\n%s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fakeTimedatectl puts a timedatectl on PATH that prints props, as
// `timedatectl show` does on a systemd box (this machine has no systemd
// running, so the real one cannot answer).
func fakeTimedatectl(t *testing.T, props string) {
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1\" = show ] || exit 2\ncat <<'EOF'\n" + props + "EOF\n"
	if err := os.WriteFile(filepath.Join(dir, "timedatectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":/usr/bin:/bin")
}

func TestClockAgainstChrony(t *testing.T) {
	server := chronyd(t)
	t.Setenv("PATH", t.TempDir()) // no timedatectl: the NTP server alone answers
	r := run(t, build(t, "clock", "", "{ntp_server: '"+server+"'}", 5*time.Second), 5*time.Second)
	want(t, r, checks.OK, "from NTP server "+server+" (stratum 8)")
	if r.Value != checks.ClockSynced {
		t.Fatalf("value %v, want synced", r.Value)
	}
	// Any offset is too much at a nanosecond: the warning names it.
	r = run(t, build(t, "clock", "", "{ntp_server: '"+server+"', max_offset: 1ns}", 5*time.Second), 5*time.Second)
	want(t, r, checks.Warning, "more than 1ns")
	if r.Value != checks.ClockUnsynced {
		t.Fatalf("value %v, want unsynced", r.Value)
	}
}

func TestClockNTPServerSilent(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // bound, never answers
	defer pc.Close()
	r := run(t, build(t, "clock", "", "{ntp_server: '"+pc.LocalAddr().String()+"'}", time.Second), time.Second)
	want(t, r, checks.Warning, "NTP server "+pc.LocalAddr().String()+": ")
	if r.Value != checks.ClockUnknown {
		t.Fatalf("value %v, want unknown", r.Value)
	}
}

func TestClockFromTimesyncd(t *testing.T) {
	for _, tc := range []struct {
		name, props string
		status      checks.Status
		value       float64
		detail      string
	}{
		{"synchronised", "NTP=yes\nCanNTP=yes\nNTPSynchronized=yes\n", checks.OK, checks.ClockSynced, "synchronised (systemd-timesyncd)"},
		{"ntp off", "NTP=no\nCanNTP=yes\nNTPSynchronized=no\n", checks.Warning, checks.ClockUnsynced, "NTP is turned off"},
		{"no server reached", "NTP=yes\nCanNTP=yes\nNTPSynchronized=no\n", checks.Warning, checks.ClockUnsynced, "no NTP server reached yet"},
		{"garbage", "hello\n", checks.OK, checks.ClockUnknown, "cannot tell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeTimedatectl(t, tc.props)
			r := run(t, build(t, "clock", "", "", 5*time.Second), 5*time.Second)
			want(t, r, tc.status, tc.detail)
			if r.Value != tc.value {
				t.Fatalf("value %v, want %v", r.Value, tc.value)
			}
		})
	}
}

func TestClockWithoutSource(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := run(t, build(t, "clock", "", "", time.Second), time.Second)
	want(t, r, checks.OK, "cannot tell whether the clock is synchronised")
	if r.Value != checks.ClockUnknown {
		t.Fatalf("value %v, want unknown", r.Value)
	}
}
