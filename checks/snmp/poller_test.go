package snmp

import (
	"math"
	"sync"
	"testing"
	"time"

	"outpost/checks/clock"
)

func TestPollerSharesAnswersWithinAPoll(t *testing.T) {
	needSim(t)
	fake := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	p := NewPoller(fake)
	p.MaxAge = 15 * time.Second
	defer p.Close()
	tg := simTarget("switch_hpe_procurve")
	tg.MaxConcurrency = 1
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ifs, err := ReadInterfaces(testCtx(t), p.Device(tg, 30*time.Second)); err != nil || len(ifs) != 42 {
				t.Errorf("%d interfaces, %v", len(ifs), err)
			}
		}()
	}
	wg.Wait()
	one := p.Sent(tg.Name)
	// One reader alone, and a plain walk of both tables, for comparison.
	alone := simSession(t, "switch_hpe_procurve")
	ReadInterfaces(testCtx(t), alone)
	if one != alone.Sent() {
		t.Errorf("three checks sharing sent %d packets, one check alone %d", one, alone.Sent())
	}
	s := simSession(t, "switch_hpe_procurve")
	if _, err := s.Walk(testCtx(t), oidIfEntry); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Walk(testCtx(t), oidIfXEntry); err != nil {
		t.Fatal(err)
	}
	t.Logf("interfaces of 42 ports: %d packets for three checks, %d for a plain walk", one, s.Sent())
	if one == 0 || one*2 > s.Sent() {
		t.Errorf("shared column walk sent %d packets, plain walk %d", one, s.Sent())
	}
	fake.Advance(10 * time.Second)
	ReadInterfaces(testCtx(t), p.Device(tg, 30*time.Second))
	if p.Sent(tg.Name) != one {
		t.Errorf("answer younger than MaxAge was fetched again")
	}
	fake.Advance(10 * time.Second)
	ReadInterfaces(testCtx(t), p.Device(tg, 30*time.Second))
	if p.Sent(tg.Name) != 2*one {
		t.Errorf("after MaxAge: %d packets, want %d", p.Sent(tg.Name), 2*one)
	}
}

func TestCounterArithmetic(t *testing.T) {
	cases := []struct {
		prev, cur uint64
		c64       bool
		want      uint64
		ok        bool
	}{
		{100, 350, false, 250, true},
		{math.MaxUint32 - 99, 50, false, 150, true}, // 32-bit wrap
		{math.MaxUint32 - 99, 50, true, 0, false},   // 64-bit going down: reset
		{1 << 40, 1<<40 + 8, true, 8, true},
	}
	for _, c := range cases {
		got, ok := CounterDelta(c.prev, c.cur, c.c64)
		if got != c.want || ok != c.ok {
			t.Errorf("CounterDelta(%d, %d, %v) = %d %v", c.prev, c.cur, c.c64, got, ok)
		}
	}
	r, ok := ifRate(ifCounters{in: 0, out: 1000}, ifCounters{in: 1_250_000, out: 2000}, 100_000_000, 10)
	if !ok || r.InBps != 1_000_000 || r.OutBps != 800 || r.Utilisation != 1 {
		t.Errorf("rate %+v", r)
	}
	if !Rebooted(500_000, 1_000, time.Minute) {
		t.Error("uptime going from 5000 s to 10 s in a minute is a reboot")
	}
	if Rebooted(math.MaxUint32-3000, 3000, time.Minute) {
		t.Error("sysUpTime wrapping after 497 days is not a reboot")
	}
	if Rebooted(1000, 7000, time.Minute) {
		t.Error("uptime going up is not a reboot")
	}
}
