//go:build linux

package syslog

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/store"
)

// cpuTime is this process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchLines = [][]byte{
	[]byte("<38>Mar  4 11:59:58 gw sshd[4711]: Failed password for root from 198.51.100.7 port 22 ssh2"),
	[]byte(`<134>1 2031-03-04T11:59:58.123456+01:00 fw01 filterlog 4242 - [meta sequenceId="77"] 5,,,1000000103,igb0,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,198.51.100.7,192.0.2.10,51234,22,0,S`),
}

// committed is how many lines the store has written (kept or evicted).
func committed(st *store.Store) int64 {
	u, _ := st.LogUsage()
	return int64(u.Lines + u.Evicted)
}

// BenchmarkParse: parsing alone, per line.
func BenchmarkParse(b *testing.B) {
	p := NewParser(clock.Real{})
	for i := 0; b.Loop(); i++ {
		p.Parse(benchLines[i%2])
	}
}

// BenchmarkReceive measures lines accepted per CPU-second of the whole
// process, sender included (an upper bound of the receiver's cost), over
// UDP and over one TCP connection with octet counting, with the rate
// limit out of the way; "store" also commits every line to a real store
// (JSON, bbolt, its bounds), as the daemon does.
func BenchmarkReceive(b *testing.B) {
	for _, transport := range []string{"udp", "tcp", "udp+store"} {
		b.Run(transport, func(b *testing.B) {
			var accepted atomic.Int64
			onEvent := func(checks.Event) { accepted.Add(1) }
			var st *store.Store
			if transport == "udp+store" {
				var err error
				if st, err = store.Open(filepath.Join(b.TempDir(), "o.db"), store.Options{FlushInterval: 50 * time.Millisecond}); err != nil {
					b.Fatal(err)
				}
				sctx, stop := context.WithCancel(context.Background())
				stopped := make(chan error, 1)
				go func() { stopped <- st.Run(sctx) }()
				defer func() { stop(); <-stopped; st.Close() }()
				onEvent = func(e checks.Event) { st.AppendEvent(e); accepted.Add(1) }
			}
			r, err := New(Options{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", Logf: func(string, ...any) {},
				Policy:  Policy{Devices: []Device{{Name: "gw", Address: "127.0.0.1"}}, PerSource: 1e9, Total: 1e9},
				OnEvent: onEvent})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			defer func() { cancel(); <-done }()
			udp, tcp, _ := r.Addrs()
			var send func(i int)
			var flush func()
			if transport != "tcp" {
				c, err := net.Dial("udp", udp.String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				send = func(i int) {
					c.Write(benchLines[i%2])
					if i%64 == 63 {
						// Pace to what the receiver reads: UDP drops what
						// overflows the socket buffer.
						for accepted.Load() < int64(i-2000) || (st != nil && accepted.Load()-committed(st) > 5000) {
							time.Sleep(50 * time.Microsecond)
						}
					}
				}
				flush = func() {}
			} else {
				c, err := net.Dial("tcp", tcp.String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				w := bufio.NewWriter(c)
				send = func(i int) { fmt.Fprintf(w, "%d %s", len(benchLines[i%2]), benchLines[i%2]) }
				flush = func() { w.Flush() }
			}
			b.ResetTimer()
			start, cpu0 := accepted.Load(), cpuTime(b)
			n := 0
			for ; b.Loop(); n++ {
				send(n)
			}
			flush()
			deadline := time.Now().Add(time.Minute)
			for r.Stats().Lines-start < int64(n) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			got := accepted.Load() - start
			if st != nil {
				if err := st.Flush(); err != nil {
					b.Fatal(err)
				}
				got = committed(st) - start
			}
			cpu := cpuTime(b) - cpu0
			b.ReportMetric(float64(got)/cpu.Seconds(), "lines/cpu-s")
			b.ReportMetric(float64(n-int(got)), "lost")
		})
	}
}
