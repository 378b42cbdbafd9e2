//go:build unix

package snmp

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"outpost/checks/clock"
)

// BenchmarkPoll100Devices polls benchDevices simulated Linux hosts (one
// recording served by snmpsim under 100 communities) with the interface,
// storage and CPU readers, as one 60-second scheduling round each
// iteration. Run it with:
//
//	go test ./checks/snmp -run '^$' -bench Poll100Devices -benchtime 3x
func BenchmarkPoll100Devices(b *testing.B) {
	needSim(b)
	fake := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	p := NewPoller(fake)
	defer p.Close()
	targets := make([]Target, benchDevices)
	for i := range targets {
		targets[i] = simTarget(fmt.Sprintf("bench%03d", i))
	}
	// Warm-up: snmpsim opens each alias on first use.
	pollAll(b, p, targets)
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	sentBefore := int64(0)
	for _, t := range targets {
		sentBefore += p.Sent(t.Name)
	}
	var durs []time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		fake.Advance(time.Minute) // a new round: nothing cached from the last
		durs = append(durs, pollAll(b, p, targets)...)
	}
	wall := time.Since(start)
	b.StopTimer()
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	sent := int64(0)
	for _, t := range targets {
		sent += p.Sent(t.Name)
	}
	polls := len(durs)
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	var sum time.Duration
	for _, d := range durs {
		sum += d
	}
	// The same data fetched by walking each subtree on its own.
	s, _ := Dial(targets[0])
	defer s.Close()
	for _, root := range []string{oidIfEntry, oidIfXEntry, oidHrStorageEntry, oidUcdDskPath[:len(oidUcdDskPath)-2], oidHrProcessorLoad, oidUcdLaLoad} {
		if _, err := s.Walk(context.Background(), root); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(polls)/wall.Minutes(), "polls/min")
	b.ReportMetric(float64(sum.Milliseconds())/float64(polls), "mean-ms/poll")
	b.ReportMetric(float64(durs[polls*99/100].Milliseconds()), "p99-ms/poll")
	b.ReportMetric(cpu.Seconds()*1000/float64(polls), "cpu-s/1000polls")
	b.ReportMetric(float64(sent-sentBefore)/float64(polls), "pdus/poll")
	b.ReportMetric(float64(s.Sent()), "pdus/plain-walk")
	b.ReportMetric(float64(after.Maxrss)/1024, "peak-rss-MiB")
}

// pollAll polls every device once (interfaces, storage, CPU), 16 devices at
// a time, and returns each device's poll time.
func pollAll(tb testing.TB, p *Poller, targets []Target) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			src := p.Device(t, 0)
			var errs [3]error
			var inner sync.WaitGroup
			inner.Add(3)
			go func() { defer inner.Done(); _, errs[0] = ReadInterfaces(ctx, src) }()
			go func() { defer inner.Done(); _, errs[1] = ReadStorage(ctx, src) }()
			go func() { defer inner.Done(); _, errs[2] = ReadCPU(ctx, src) }()
			inner.Wait()
			d := time.Since(start)
			for _, err := range errs {
				if err != nil {
					tb.Errorf("%s: %v", t.Name, err)
				}
			}
			mu.Lock()
			out = append(out, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
