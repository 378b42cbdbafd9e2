//go:build linux

package checks_test

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"outpost/checks"
)

// freeUsedPercent asks procps's free for (total - available) / total.
func freeUsedPercent(t *testing.T) float64 {
	t.Helper()
	out, err := exec.Command("free", "-b").Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("free (Debian package procps) is needed: %v", err)
		}
		t.Skipf("free (Debian package procps) is not installed: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// Mem: total used free shared buff/cache available
		if len(f) == 7 && f[0] == "Mem:" {
			total, _ := strconv.ParseFloat(f[1], 64)
			avail, _ := strconv.ParseFloat(f[6], 64)
			return 100 * (total - avail) / total
		}
	}
	t.Fatalf("no Mem: line with an available column in free's output:\n%s", out)
	return 0
}

func TestMemoryMatchesFree(t *testing.T) {
	c := buildLocal(t, "memory", "", "")
	before := freeUsedPercent(t)
	r := runLocal(t, c, time.Second)
	after := freeUsedPercent(t)
	lo, hi := min(before, after)-1, max(before, after)+1
	if r.Status == checks.Unknown || !r.HasValue || r.Value < lo || r.Value > hi {
		t.Fatalf("memory check %+v; free -b says %.2f%% then %.2f%%", r, before, after)
	}
	if !regexp.MustCompile(`^used \d+\.\d [KMGT]iB of \d+\.\d [KMGT]iB \(\d+%\), swap \d+%$`).MatchString(r.Detail) {
		t.Fatalf("detail %q", r.Detail)
	}
	wantLocal(t, runLocal(t, buildLocal(t, "memory", "", "{warning: 0, critical: 0.001}"), time.Second), checks.Critical, "used ")
	wantLocal(t, runLocal(t, buildLocal(t, "memory", "", "{warning: 0, critical: 100}"), time.Second), checks.Warning, "used ")
	wantLocal(t, runLocal(t, buildLocal(t, "memory", "", "{warning: 100, critical: 100}"), time.Second), checks.OK, "used ")
}

func TestMemorySwapWarning(t *testing.T) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	var swapTotal, swapFree uint64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			switch f[0] {
			case "SwapTotal:":
				swapTotal = v
			case "SwapFree:":
				swapFree = v
			}
		}
	}
	r := runLocal(t, buildLocal(t, "memory", "", "{warning: 100, critical: 100, swap_warning: 0}"), time.Second)
	// swap_warning 0 warns as soon as any swap is in use (the case of a
	// box without swap is covered by TestMemFromInfo on captured text).
	if swapTotal > swapFree {
		wantLocal(t, r, checks.Warning, "swap above 0%")
	} else {
		wantLocal(t, r, checks.OK, "swap 0%")
	}
}
