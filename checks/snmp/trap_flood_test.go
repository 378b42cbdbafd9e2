package snmp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
	"outpost/checks/clock"
)

// floodTrap is a v2c linkDown with extra variables of valueLen bytes.
func floodTrap(tb testing.TB, community string, vars, valueLen int) []byte {
	tb.Helper()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: gosnmp.SNMPv2Trap, RequestID: 1, Variables: []gosnmp.SnmpPDU{
		{Name: oidSysUpTime0, Type: gosnmp.TimeTicks, Value: uint32(100)},
		{Name: oidSnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"}}}
	for i := range vars {
		p.Variables = append(p.Variables, gosnmp.SnmpPDU{Name: fmt.Sprintf(".1.3.6.1.4.1.99.%d", i), Type: gosnmp.OctetString, Value: strings.Repeat("x", valueLen)})
	}
	b, err := p.MarshalMsg()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// discoveryProbe is what net-snmp sends first for a v3 inform: an empty
// unauthenticated, reportable GET.
func discoveryProbe(tb testing.TB) []byte {
	tb.Helper()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable | gosnmp.NoAuthNoPriv, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv},
		MsgID:              7, MsgMaxSize: 65507, PDUType: gosnmp.GetRequest, RequestID: 7}
	b, err := p.MarshalMsg()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sender is a UDP socket on a loopback address that counts the answers
// it gets back (reports, inform responses).
type sender struct {
	net.PacketConn
	answers atomic.Int64
}

func newSender(t *testing.T, ip string) *sender {
	t.Helper()
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Skipf("cannot send from %s: %v", ip, err)
	}
	s := &sender{PacketConn: pc}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			s.answers.Add(1)
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return s
}

// send sends pkt n times to addr, pausing every 50 packets so that the
// kernel's socket buffer does not drop any: the receiver is meant to see
// them all.
func (s *sender) send(t *testing.T, to net.Addr, pkt []byte, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.WriteTo(pkt, to); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// TestTrapFloodIsDropped is the attack of the security issue (item 5): a
// LAN host floods the trap port with spoofed traps. Today every one was
// stored, with all its variables, and every v3 probe answered.
func TestTrapFloodIsDropped(t *testing.T) {
	devices := []checks.Device{{Name: "core-switch", Address: "127.0.0.1", SNMP: &checks.SNMP{Community: "s3cret"}}}
	for i := range 10 {
		devices = append(devices, checks.Device{Name: fmt.Sprintf("ap%d", i+1), Address: fmt.Sprintf("127.0.1.%d", i+1)})
	}
	var mu sync.Mutex
	var events []checks.Event
	cfg := TrapConfigFor(checks.Traps{V3Users: []checks.TrapUser{{User: "trapuser", AuthProtocol: "SHA256", AuthPassword: "authpass123"}}}, devices)
	cfg.Logf = t.Logf
	// Rates are judged on a clock that stands still unless told.
	fake := clock.NewFake(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
	cfg.Clock = fake
	r, err := NewTrapReceiver("127.0.0.1:0", cfg, func(e checks.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	runReceiver(t, r)
	to := r.Addr()
	// count returns the events since the last call.
	count := func() int { mu.Lock(); defer mu.Unlock(); n := len(events); events = nil; return n }
	// settle waits until the receiver has read all sent packets.
	sent := int64(0)
	settle := func(n int) {
		t.Helper()
		sent += int64(n)
		deadline := time.Now().Add(10 * time.Second)
		for r.Stats().Packets < sent {
			if time.Now().After(deadline) {
				t.Fatalf("the receiver read %d of %d packets", r.Stats().Packets, sent)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// 1. A configured device's address, a community nobody configured.
	local := newSender(t, "127.0.0.1")
	local.send(t, to, floodTrap(t, "public", 2, 10), 1000)
	settle(1000)
	if n := count(); n != 0 {
		t.Errorf("unknown community: %d of 1000 spoofed traps became events, want 0", n)
	}
	if d := r.Stats().Dropped[DropCommunity]; d != 1000 {
		t.Errorf("unknown community: %d counted, want 1000", d)
	}

	// 2. An address that is no configured device, with the right community.
	other := newSender(t, "127.0.0.2")
	other.send(t, to, floodTrap(t, "s3cret", 2, 10), 1000)
	settle(1000)
	if n := count(); n != 0 {
		t.Errorf("unknown source: %d of 1000 spoofed traps became events, want 0", n)
	}
	if d := r.Stats().Dropped[DropUnknownSource]; d != 1000 {
		t.Errorf("unknown source: %d counted, want 1000", d)
	}

	// 3. A burst from the configured device with its community: the
	// first 100 pass, the rest of the second is over its rate.
	local.send(t, to, floodTrap(t, "s3cret", 2, 10), 1000)
	settle(1000)
	if n := count(); n != 100 {
		t.Errorf("burst from a device: %d of 1000 traps became events, want 100", n)
	}
	if d := r.Stats().Dropped[DropRateSource]; d != 900 {
		t.Errorf("burst from a device: %d counted over the rate, want 900", d)
	}
	// A second later, 20 more.
	fake.Advance(time.Second)
	local.send(t, to, floodTrap(t, "s3cret", 2, 10), 100)
	settle(100)
	if n := count(); n != 20 {
		t.Errorf("a second after the burst: %d of 100 traps became events, want 20", n)
	}

	// 4. One trap with 60 variables of 1,000 bytes: cut before the store.
	fake.Advance(checks.TrapBurstSeconds * time.Second) // the device's bucket refills
	local.send(t, to, floodTrap(t, "s3cret", 60, 1000), 1)
	settle(1)
	mu.Lock()
	if len(events) != 1 {
		t.Errorf("big trap: %d events, want 1", len(events))
	} else {
		e := events[0]
		if e.Fields["varbinds_cut"] != "60" || r.Stats().Truncated != 1 {
			t.Errorf("big trap: varbinds_cut %q, %d truncated, want 60 and 1", e.Fields["varbinds_cut"], r.Stats().Truncated)
		}
		if len(e.Fields) > 32 {
			t.Errorf("big trap: %d fields kept, want at most 32", len(e.Fields))
		}
		for k, v := range e.Fields {
			if len(v) > 256+len("…") {
				t.Errorf("big trap: field %s keeps %d bytes, want at most 256 and …", k, len(v))
				break
			}
		}
	}
	mu.Unlock()

	// 5. v3 discovery probes with the device's address: the box must not
	// answer each one (a reflector for spoofed sources).
	local.send(t, to, discoveryProbe(t), 1000)
	settle(1000)
	time.Sleep(100 * time.Millisecond) // the answers are on their way
	if n, st := local.answers.Load(), r.Stats(); n != reportBurstDest || st.Reports != reportBurstDest || st.ReportsLimited != 1000-reportBurstDest {
		t.Errorf("discovery flood: %d of 1000 probes answered (stats %+v), want %d", n, st, reportBurstDest)
	}
	// Spoofed from many (configured) addresses: the total reply rate holds.
	for i := range 10 {
		newSender(t, fmt.Sprintf("127.0.1.%d", i+1)).send(t, to, discoveryProbe(t), 20)
	}
	settle(200)
	if st := r.Stats(); st.Reports != reportBurstTotal {
		t.Errorf("probes from 11 addresses: %d reports in all, want %d", st.Reports, reportBurstTotal)
	}
}

// runReceiver runs r until the test ends.
func runReceiver(t *testing.T, r *TrapReceiver) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}
