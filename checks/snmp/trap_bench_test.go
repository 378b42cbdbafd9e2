package snmp

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// BenchmarkTrapFlood floods a real receiver on loopback with packets it
// drops, from one sender as fast as it can write, and reports how many
// packets per second the receiver read and judged (pkts/s; ns/op is the
// sender's) and how many the kernel dropped before it could (lost_%).
// The cpu/ cases judge the same packets in a loop without the socket:
// their ns/op is the receiver's CPU per packet. Run it with:
//
//	go test ./checks/snmp -run '^$' -bench TrapFlood -benchtime 200000x
func BenchmarkTrapFlood(b *testing.B) {
	devices := []TrapDevice{{Name: "core-switch", Address: "127.0.0.1", Community: "s3cret"}}
	users := []checks.TrapUser{{User: "trapuser", AuthProtocol: "SHA256", AuthPassword: "authpass123"}}
	cases := []struct {
		name, from string
		pkt        []byte
		reason     string
	}{
		{"unknown_source", "127.0.0.2", floodTrap(b, "s3cret", 4, 32), DropUnknownSource},
		{"wrong_community", "127.0.0.1", floodTrap(b, "public", 4, 32), DropCommunity},
		{"over_rate", "127.0.0.1", floodTrap(b, "s3cret", 4, 32), DropRateSource},
		{"v3_probe", "127.0.0.1", discoveryProbe(b), ""},
	}
	for _, bc := range cases {
		b.Run("cpu/"+bc.name, func(b *testing.B) {
			fake := clock.NewFake(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
			r := closedReceiver(b, TrapConfig{Devices: devices, Users: users, Clock: fake})
			from := &net.UDPAddr{IP: net.ParseIP(bc.from), Port: 1}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r.judge(bc.pkt, from)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
	for _, bc := range cases {
		b.Run("udp/"+bc.name, func(b *testing.B) {
			fake := clock.NewFake(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
			r, err := NewTrapReceiver("127.0.0.1:0", TrapConfig{Devices: devices, Users: users, Clock: fake, Logf: func(string, ...any) {}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { r.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			c, err := net.ListenPacket("udp", bc.from+":0")
			if err != nil {
				b.Skipf("cannot send from %s: %v", bc.from, err)
			}
			defer c.Close()
			to := r.Addr()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				c.WriteTo(bc.pkt, to)
			}
			// The receiver is done when its count stops moving.
			last, at := int64(-1), time.Now()
			for {
				n := r.Stats().Packets
				if n != last {
					last, at = n, time.Now()
				} else if time.Since(at) > 50*time.Millisecond {
					break
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			st := r.Stats()
			wall := at.Sub(start)
			b.ReportMetric(float64(st.Packets)/wall.Seconds(), "pkts/s")
			b.ReportMetric(100*float64(int64(b.N)-st.Packets)/float64(b.N), "lost_%")
			if bc.reason != "" && st.Dropped[bc.reason] < st.Packets-int64(100) {
				b.Fatalf("dropped %v of %d, want nearly all for %s", st.Dropped, st.Packets, bc.reason)
			}
			if st.Accepted > 100 || st.Reports > reportBurstDest {
				b.Fatalf("accepted %d, %d reports: %s", st.Accepted, st.Reports, fmt.Sprint(st))
			}
		})
	}
}
