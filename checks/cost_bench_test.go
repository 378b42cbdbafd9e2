//go:build linux

package checks_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestServeForCostBenchmark is the peer of the cost benchmarks, run as a
// child process so its CPU is not counted.
func TestServeForCostBenchmark(t *testing.T) {
	addr := os.Getenv("OUTPOST_COST_PEER")
	if addr == "" {
		t.Skip("only runs as the cost benchmarks' peer")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok outpost\n") }))
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHTTPCheckCPU measures the checking process's CPU per HTTP check
// (fresh connection each time) against a peer in another process.
func BenchmarkHTTPCheckCPU(b *testing.B) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	peer := exec.Command(os.Args[0], "-test.run=^TestServeForCostBenchmark$")
	peer.Env = append(os.Environ(), "OUTPOST_COST_PEER="+addr)
	if err := peer.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { peer.Process.Kill(); peer.Wait() }()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := buildB(b, "http", "http://"+addr+"/")
	gap, _ := time.ParseDuration(os.Getenv("COST_GAP"))
	var burst int
	fmt.Sscan(os.Getenv("COST_BURST"), &burst)
	b.ResetTimer()
	cpu0 := selfCPU()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r := c.Check(ctx)
		cancel()
		if r.Status != 0 {
			b.Fatalf("check: %+v", r)
		}
		if gap > 0 && (burst == 0 || i%burst == burst-1) {
			time.Sleep(gap)
		}
	}
	b.ReportMetric(float64((selfCPU()-cpu0).Microseconds())/float64(b.N), "cpu-us/check")
}
