//go:build linux

package agent

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"outpost/checks"
)

// BenchmarkAgentPoll polls a real agent process (paired, over pinned TLS
// on loopback) with the eight-check mix a Windows server gets, reporting
// the box's CPU per check, the agent's CPU per check and its RSS.
func BenchmarkAgentPoll(b *testing.B) {
	r := paired(b)
	ids := []string{"disk-root", "cpu", "mem", "up", "proc", "proc-missing", "log", "perf"}
	var chs []checks.Checker
	for _, id := range ids {
		chs = append(chs, build(b, r, id))
	}
	ctx := context.Background()
	for _, ch := range chs { // warm: connection, policy, first CPU sample
		ch.Check(ctx)
	}
	pid := r.cmd.Process.Pid
	agent0 := procCPU(b, pid)
	box0 := selfCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := chs[i%len(chs)].Check(ctx); res.Status == checks.Critical && res.Detail != "" && strings.Contains(res.Detail, "unreachable") {
			b.Fatal(res.Detail)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(selfCPU()-box0)/float64(b.N)/1e3, "box-cpu-µs/check")
	b.ReportMetric(float64(procCPU(b, pid)-agent0)/float64(b.N)/1e3, "agent-cpu-µs/check")
	b.ReportMetric(float64(procRSS(b, pid)), "agent-rss-kB")
}

// selfCPU is this process's user+system CPU in ns.
func selfCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// procCPU is another process's user+system CPU in ns (/proc/PID/stat).
func procCPU(tb testing.TB, pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * 1e7 // USER_HZ is 100 on Linux
}

func procRSS(tb testing.TB, pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
