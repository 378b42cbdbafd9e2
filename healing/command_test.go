//go:build !windows

package healing_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/healing"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "restart.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// A restart script written the usual way, starting the service in the
// background, returns as soon as the script does: the background process
// keeps the output pipe, and is neither waited for nor killed.
func TestCommandDoesNotWaitForBackgroundChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := script(t, "/bin/sleep 30 &\necho $! > "+pidFile+"\necho started\n")
	a := remediation(t, s, "{action: command, command: ["+s+"]}")
	done := make(chan healing.AuditEntry, 1)
	go func() {
		done <- healing.NewRunner(nil, nil).Run(context.Background(), a, "c", 0, "auto", 20*time.Second)
	}()
	var e healing.AuditEntry
	select {
	case e = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the action waited for the background child (30 s)")
	}
	if !e.OK || strings.TrimSpace(e.Output) != "started" {
		t.Fatalf("%+v", e)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("the service the script started (pid %d) was killed", pid)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// A script that hangs is bounded by the action timeout, and its whole
// process group goes with it.
func TestCommandTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := script(t, "/bin/sleep 60 &\necho $! > "+pidFile+"\nwait\n")
	a := remediation(t, s, "{action: command, command: ["+s+"]}")
	e := healing.NewRunner(nil, nil).Run(context.Background(), a, "c", 0, "auto", 500*time.Millisecond)
	if e.OK || !strings.Contains(e.Error, "timed out") {
		t.Fatalf("%+v", e)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	deadline := time.Now().Add(10 * time.Second)
	for pid != 0 && syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the timed-out script's child %d is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A talkative command's output is kept to a bounded size.
func TestCommandOutputIsBounded(t *testing.T) {
	s := script(t, "i=0; while [ $i -lt 2000 ]; do printf '%01000d\\n' 0; i=$((i+1)); done\n")
	a := remediation(t, s, "{action: command, command: ["+s+"]}")
	e := healing.NewRunner(nil, nil).Run(context.Background(), a, "c", 0, "auto", 20*time.Second)
	if !e.OK || len(e.Output) > 64<<10 || len(e.Output) < 4096 {
		t.Fatalf("ok %v, %d bytes of output kept", e.OK, len(e.Output))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(p)
		if err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("reading %s: %v", p, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The unit of a systemd_restart reaches systemctl only after "--", and
// names that systemctl would read as options are refused by the config.
func TestSystemdRestartUnitIsNeverAnOption(t *testing.T) {
	for _, bad := range []string{"-H", "--help", "--help.service", "--host=evil.example", "-M"} {
		_, err := config.Parse("s.yaml", []byte("site: s\nchecks:\n  - id: c\n    kind: tcp\n    target: 127.0.0.1:1\n    remediations:\n      - {action: systemd_restart, unit: '"+bad+"'}\n"))
		if err == nil || !strings.Contains(err.Error(), "is not a unit name") {
			t.Errorf("%q accepted as a unit name", bad)
		}
	}
	dir := t.TempDir()
	argv := filepath.Join(dir, "argv")
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > "+argv+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	a := remediation(t, "", "{action: systemd_restart, unit: getty@tty1}")
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(argv)
	if want := "restart\n--\ngetty@tty1.service\n"; string(got) != want {
		t.Fatalf("systemctl got\n%s\nwant\n%s", got, want)
	}
}
