//go:build linux

package checks_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"outpost/checks"
)

// statSample reads /proc/stat's aggregate line with its own parser, as an
// independent reading to compare the check with.
func statSample(t *testing.T) (busy, total uint64) {
	t.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	// user nice system idle iowait irq softirq steal
	for i, name := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"} {
		v, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		total += v
		if name != "idle" && name != "iowait" {
			busy += v
		}
	}
	return busy, total
}

func TestCPUMatchesProcStat(t *testing.T) {
	c := buildLocal(t, "cpu", "", "")
	r := runLocal(t, c, 2*time.Second)
	if r.Status == checks.Unknown || !r.HasValue || r.Value < 0 || r.Value > 100 {
		t.Fatalf("first run: %+v", r)
	}
	if !regexp.MustCompile(`^\d+\.\d% busy on \d+ cores, load \d+\.\d\d \d+\.\d\d \d+\.\d\d$`).MatchString(r.Detail) {
		t.Fatalf("detail %q", r.Detail)
	}
	if out, err := exec.Command("getconf", "_NPROCESSORS_ONLN").Output(); err == nil {
		if n := strings.TrimSpace(string(out)); !strings.Contains(r.Detail, " on "+n+" cores") {
			t.Fatalf("getconf says %s cores online, detail %q", n, r.Detail)
		}
	}

	// The second run measures from the end of the first. Keep one core
	// busy meanwhile so the figure is not just idle noise, and compare
	// with our own reading of the same window.
	b0, t0 := statSample(t)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
		}
	}()
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	<-done
	b1, t1 := statSample(t)
	r = runLocal(t, c, time.Second)
	want := 100 * float64(b1-b0) / float64(t1-t0)
	// The windows differ only by the microseconds around each reading:
	// a few clock ticks out of ~50 per core, more if
	// the test goroutine waits for a CPU on a loaded machine.
	if !r.HasValue || r.Value < want-12 || r.Value > want+12 {
		t.Fatalf("check says %.1f%% busy, /proc/stat over the same window says %.1f%%", r.Value, want)
	}
	if want < 100/float64(countCores(t))-10 {
		t.Fatalf("a spinning goroutine should show: %.1f%% busy", want)
	}

	crit := buildLocal(t, "cpu", "", "{warning: 0, critical: 0}")
	runLocal(t, crit, time.Second)
	// Busy is never negative, so a zero critical threshold only holds
	// for a perfectly idle window; a spin makes sure it is not.
	stop.Store(false)
	done = make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
		}
	}()
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	<-done
	wantLocal(t, runLocal(t, crit, time.Second), checks.Critical, "% busy on")
}

func countCores(t *testing.T) int {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	return len(regexp.MustCompile(`(?m)^cpu\d+ `).FindAllString(string(data), -1))
}

func TestCPUFirstRunHonoursContext(t *testing.T) {
	c := buildLocal(t, "cpu", "", "")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("scheduler stopping"))
	wantLocal(t, c.Check(ctx), checks.Unknown, "cpu: cancelled while sampling (scheduler stopping)")
	// The cancelled run left no baseline: the next run samples again and
	// gives a value.
	if r := runLocal(t, c, 2*time.Second); r.Status == checks.Unknown || !r.HasValue {
		t.Fatalf("after a cancelled first run: %+v", r)
	}
}
