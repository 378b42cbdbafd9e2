//go:build linux

package checks_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"outpost/appliance/config"
	"outpost/checks"
)

func buildLocal(t *testing.T, kind, target, options string) checks.Checker {
	t.Helper()
	y := "site: t\nchecks:\n  - id: c\n    kind: " + kind + "\n"
	if target != "" {
		y += "    target: '" + target + "'\n"
	}
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

func TestDiskMatchesStatfs(t *testing.T) {
	for _, path := range []string{"/", t.TempDir()} {
		r := run(t, buildLocal(t, "disk", path, ""), 2*time.Second)
		var s unix.Statfs_t
		if err := unix.Statfs(path, &s); err != nil {
			t.Fatal(err)
		}
		used := float64(s.Blocks-s.Bfree) * float64(s.Bsize)
		avail := float64(s.Bavail) * float64(s.Bsize)
		pct := 100 * used / (used + avail)
		if !r.HasValue || r.Value < pct-0.5 || r.Value > pct+0.5 {
			t.Fatalf("%s: check says %.2f%% used, statfs says %.2f%%", path, r.Value, pct)
		}
		if !strings.HasPrefix(r.Detail, path+": ") {
			t.Fatalf("detail %q", r.Detail)
		}
		// Thresholds below the real usage make it critical.
		if pct > 1 {
			want(t, run(t, buildLocal(t, "disk", path, "{warning: 0.5, critical: 1}"), time.Second), checks.Critical, "% used")
		}
	}
	want(t, run(t, buildLocal(t, "disk", "/no/such/mount", ""), time.Second), checks.Critical, "no such file")
	want(t, run(t, buildLocal(t, "disk", "/", "{min_free: 100000TiB}"), time.Second), checks.Critical, "below the minimum")
}

func TestMemoryMatchesMeminfo(t *testing.T) {
	r := run(t, buildLocal(t, "memory", "", ""), time.Second)
	data, _ := os.ReadFile("/proc/meminfo")
	var total, avail float64
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			avail = v
		}
	}
	pct := 100 * (total - avail) / total
	if r.Status == checks.Unknown || r.Value < pct-2 || r.Value > pct+2 {
		t.Fatalf("memory %+v, /proc/meminfo says %.1f%%", r, pct)
	}
	want(t, run(t, buildLocal(t, "memory", "", "{warning: 0, critical: 0.001}"), time.Second), checks.Critical, "used")
}

func TestCPUBusy(t *testing.T) {
	c := buildLocal(t, "cpu", "", "")
	r := run(t, c, 2*time.Second)
	if r.Status == checks.Unknown || !r.HasValue || r.Value < 0 || r.Value > 100 || !strings.Contains(r.Detail, "cores, load") {
		t.Fatalf("cpu %+v", r)
	}
	// The second run measures since the first, with no sampling pause.
	start := time.Now()
	r = run(t, c, time.Second)
	if time.Since(start) > 100*time.Millisecond || r.Value < 0 || r.Value > 100 {
		t.Fatalf("second cpu run: %+v in %s", r, time.Since(start))
	}
}

func TestProcessFollowsARealChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := buildLocal(t, "process", "sleep", "{cmdline_contains: 'sleep 30'}")
	r := run(t, c, time.Second)
	want(t, r, checks.OK, strconv.Itoa(cmd.Process.Pid))
	if r.Value < 1 {
		t.Fatalf("count %v", r.Value)
	}
	want(t, run(t, buildLocal(t, "process", "sleep", "{cmdline_contains: 'sleep 30', max: 0, min: 0}"), time.Second), checks.Warning, "expected at most 0")
	cmd.Process.Kill()
	cmd.Wait()
	want(t, run(t, c, time.Second), checks.Critical, "is not running")
	want(t, run(t, buildLocal(t, "process", "no-such-daemon-xyz", ""), time.Second), checks.Critical, "no-such-daemon-xyz is not running")
}

func TestSystemdParse(t *testing.T) {
	cases := []struct {
		out    string
		status checks.Status
		detail string
	}{
		{"LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n", checks.OK, "ssh.service is active (running)"},
		{"LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\n", checks.Critical, "is failed (failed), last result exit-code"},
		{"LoadState=loaded\nActiveState=inactive\nSubState=dead\nResult=success\n", checks.Critical, "is inactive (dead)"},
		{"LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nResult=exit-code\n", checks.Warning, "activating (auto-restart)"},
		{"LoadState=not-found\nActiveState=inactive\nSubState=dead\nResult=success\n", checks.Critical, "unit not found"},
	}
	for _, tc := range cases {
		st, d := checks.ParseSystemctlShow(tc.out).Judge("ssh.service")
		if st != tc.status || !strings.Contains(d, tc.detail) {
			t.Errorf("%q: %s %q", tc.out, st, d)
		}
	}
}

func TestSystemdLive(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("no systemctl on this machine")
	}
	r := run(t, buildLocal(t, "systemd", "outpost-no-such-unit-xyz", ""), 5*time.Second)
	// Without a running systemd, systemctl answers with an error we
	// report as unknown; with one, the unit is not found.
	if r.Status == checks.OK || (r.Status == checks.Critical && !strings.Contains(r.Detail, "not found")) {
		t.Fatalf("missing unit: %+v", r)
	}
}

func TestDefaultConfigBuildsEveryKind(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range cfg.Specs() {
		if _, err := checks.Build(sp); err != nil {
			t.Errorf("%s: %v", sp.ID, err)
		}
	}
}
