package checks

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// Outputs of `systemctl show --property=ActiveState,SubState,LoadState,Result`
// in systemd's own order (the Service interface's Result before the Unit
// properties). The machine these tests were written on runs systemctl 252
// without systemd as PID 1, so these are typed in systemd's format rather
// than captured; TestSystemdLive covers the real command.
var systemctlOutputs = []struct {
	name, out string
	status    Status
	detail    string
}{
	{"running", "Result=success\nLoadState=loaded\nActiveState=active\nSubState=running\n", OK, "ssh.service is active (running)"},
	{"oneshot done", "Result=success\nLoadState=loaded\nActiveState=active\nSubState=exited\n", OK, "ssh.service is active (exited)"},
	{"failed", "Result=exit-code\nLoadState=loaded\nActiveState=failed\nSubState=failed\n", Critical, "ssh.service is failed (failed), last result exit-code"},
	{"stopped", "Result=success\nLoadState=loaded\nActiveState=inactive\nSubState=dead\n", Critical, "ssh.service is inactive (dead)"},
	{"restarting", "Result=exit-code\nLoadState=loaded\nActiveState=activating\nSubState=auto-restart\n", Warning, "ssh.service is activating (auto-restart), last result exit-code"},
	{"reloading", "Result=success\nLoadState=loaded\nActiveState=reloading\nSubState=reload\n", Warning, "ssh.service is reloading (reload)"},
	{"not found", "Result=success\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n", Critical, "ssh.service: unit not found"},
	{"masked", "Result=success\nLoadState=masked\nActiveState=inactive\nSubState=dead\n", Critical, "ssh.service is inactive (dead), masked"},
	{"timeout", "Result=timeout\nLoadState=loaded\nActiveState=failed\nSubState=failed\n", Critical, "last result timeout"},
	{"empty", "", Unknown, "ssh.service: systemctl gave no ActiveState"},
	{"new state", "LoadState=loaded\nActiveState=maintenance\nSubState=x\n", Unknown, "a state Outpost does not know"},
}

func TestSystemdJudge(t *testing.T) {
	for _, tc := range systemctlOutputs {
		t.Run(tc.name, func(t *testing.T) {
			st, d := parseSystemctlShow(tc.out).judge("ssh.service")
			if st != tc.status || d != tc.detail && !strings.Contains(d, tc.detail) {
				t.Fatalf("got %s %q, want %s %q", st, d, tc.status, tc.detail)
			}
		})
	}
}

func TestSystemdUnitNames(t *testing.T) {
	for target, unit := range map[string]string{
		"ssh":              "ssh.service",
		"ssh.service":      "ssh.service",
		"php8.2-fpm":       "php8.2-fpm.service",
		"apt-daily.timer":  "apt-daily.timer",
		"getty@tty1":       "getty@tty1.service",
		"srv-backup.mount": "srv-backup.mount",
		"docker.socket":    "docker.socket",
	} {
		c, err := Build(Spec{Kind: "systemd", Target: target}, Deps{})
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if got := c.(*Systemd).unit; got != unit {
			t.Errorf("%s: unit %q, want %q", target, got, unit)
		}
	}
	for _, bad := range []string{"-H host", "ssh service", "../x", "a;b"} {
		if _, err := Build(Spec{Kind: "systemd", Target: bad}, Deps{}); err == nil {
			t.Errorf("%q accepted as a unit name", bad)
		}
	}
}

// TestSystemdLive runs the real systemctl: with systemd as init it must
// find journald and miss a made-up unit; without (a container, like the
// machine these tests were written on) it must say why it cannot tell.
func TestSystemdLive(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("systemctl (Debian package systemd) is needed: %v", err)
		}
		t.Skip("systemctl is not installed (Debian package systemd)")
	}
	missing, _ := Build(Spec{Kind: "systemd", Target: "outpost-no-such-unit-xyz"}, Deps{})
	r := missing.Check(context.Background())
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		// systemd is running (sd_booted's test).
		if r.Status != Critical || r.Detail != "outpost-no-such-unit-xyz.service: unit not found" {
			t.Fatalf("missing unit: %s %q", r.Status, r.Detail)
		}
		journald, _ := Build(Spec{Kind: "systemd", Target: "systemd-journald"}, Deps{})
		if r := journald.Check(context.Background()); r.Status != OK || !strings.HasPrefix(r.Detail, "systemd-journald.service is active (running)") {
			t.Fatalf("journald: %s %q", r.Status, r.Detail)
		}
		return
	}
	if r.Status != Unknown || !strings.HasPrefix(r.Detail, "systemctl: ") || strings.Contains(r.Detail, "\n") {
		t.Fatalf("systemctl without systemd: %s %q", r.Status, r.Detail)
	}
	t.Logf("no systemd running here; systemctl said: %s", r.Detail)
}

func TestSystemdWithoutSystemctl(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // a PATH with no systemctl in it
	c, _ := Build(Spec{Kind: "systemd", Target: "ssh"}, Deps{})
	r := c.Check(context.Background())
	if r.Status != Unknown || r.Detail != "systemctl is not installed on this box (a container?), so ssh.service cannot be checked" {
		t.Fatalf("%s %q", r.Status, r.Detail)
	}
}

func TestSystemdHonoursContext(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("systemctl is not installed")
	}
	c, _ := Build(Spec{Kind: "systemd", Target: "ssh"}, Deps{})
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("check timeout 5s"))
	r := c.Check(ctx)
	if r.Status != Unknown || r.Detail != "systemctl did not answer in time about ssh.service (check timeout 5s)" {
		t.Fatalf("%s %q", r.Status, r.Detail)
	}
}

// fakeSystemctl puts a systemctl on PATH that writes its arguments, one a
// line, to the returned file and answers "active".
func fakeSystemctl(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	argv := dir + "/argv"
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + argv + "\necho ActiveState=active\necho SubState=running\necho LoadState=loaded\n"
	if err := os.WriteFile(dir+"/systemctl", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return argv
}

// A unit name from config reaches systemctl only after "--", and names that
// systemctl would read as options are refused before that.
func TestSystemdUnitIsNeverAnOption(t *testing.T) {
	for _, bad := range []string{"-H", "--help", "--help.service", "--host=evil.example", "-M", "--root=/tmp"} {
		if _, err := Build(Spec{Kind: "systemd", Target: bad}, Deps{}); err == nil {
			t.Errorf("%q accepted as a unit name", bad)
		}
	}
	if runtime.GOOS != "linux" {
		t.Skip("the check runs systemctl only on Linux")
	}
	argv := fakeSystemctl(t)
	c, err := Build(Spec{Kind: "systemd", Target: "getty@tty1"}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Check(context.Background()); r.Status != OK {
		t.Fatalf("%s %q", r.Status, r.Detail)
	}
	got, _ := os.ReadFile(argv)
	want := "show\n--property=ActiveState,SubState,LoadState,Result\n--\ngetty@tty1.service\n"
	if string(got) != want {
		t.Fatalf("systemctl got\n%s\nwant\n%s", got, want)
	}
}
