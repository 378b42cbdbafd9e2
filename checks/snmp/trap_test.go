package snmp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/clock"
)

func startReceiver(t *testing.T, cfg TrapConfig) (*TrapReceiver, chan checks.Event) {
	t.Helper()
	ch := make(chan checks.Event, 16)
	cfg.Logf = t.Logf
	r, err := NewTrapReceiver("127.0.0.1:0", cfg, func(e checks.Event) { ch <- e })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r, ch
}

func snmptrap(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("snmptrap")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("snmptrap is not installed (make test installs Debian's snmp)")
		}
		t.Skip("snmptrap is not installed; `make test` installs Debian's snmp")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+t.TempDir(), "SNMPCONFPATH="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snmptrap %v: %v\n%s", args, err, out)
	}
}

func wait(t *testing.T, ch chan checks.Event) checks.Event {
	t.Helper()
	select {
	case e := <-ch:
		t.Logf("event: %+v", e)
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return checks.Event{}
}

func TestTrapsFromSnmptrap(t *testing.T) {
	cfg, err := config.Parse("site.yaml", []byte(`site: t
devices:
  - {name: core-switch, address: 127.0.0.1}
`))
	if err != nil {
		t.Fatal(err)
	}
	traps := checks.Traps{Communities: []checks.Secret{"public"}, V3Users: []checks.TrapUser{{User: "trapuser", AuthProtocol: "SHA256", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"}}}
	if errs := traps.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	tc := TrapConfigFor(traps, cfg.Devices)
	// A fake clock: the test moves the engine time past the inform window
	// while the receiver runs.
	fake := clock.NewFake(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
	tc.Clock = fake
	r, ch := startReceiver(t, tc)
	addr := r.Addr().String()

	snmptrap(t, "-v", "2c", "-c", "public", addr, "", "1.3.6.1.6.3.1.1.5.3",
		"1.3.6.1.2.1.2.2.1.1.3", "i", "3", "1.3.6.1.2.1.2.2.1.2.3", "s", "Gi0/3")
	e := wait(t, ch)
	if e.Name != "linkDown" || e.Device != "core-switch" || e.Severity != checks.Warning || e.Detail != "interface went down (interface Gi0/3 ifIndex 3)" || e.Source != "trap" {
		t.Errorf("v2c linkDown: %+v", e)
	}

	snmptrap(t, "-v", "1", "-c", "public", addr, "1.3.6.1.4.1.8072.2.3", "127.0.0.1", "3", "0", "", "1.3.6.1.2.1.2.2.1.1.3", "i", "3")
	if e := wait(t, ch); e.Name != "linkUp" || e.Severity != checks.OK || e.Fields["enterprise"] != "1.3.6.1.4.1.8072.2.3" {
		t.Errorf("v1 linkUp: %+v", e)
	}
	snmptrap(t, "-v", "1", "-c", "public", addr, "1.3.6.1.4.1.8072.2.3", "127.0.0.1", "6", "17", "", "1.3.6.1.4.1.8072.2.3.2.1", "s", "fan failed")
	if e := wait(t, ch); e.Name != "1.3.6.1.4.1.8072.2.3.0.17" || e.Severity != checks.Unknown || !strings.Contains(e.Detail, "fan failed") {
		t.Errorf("v1 enterprise-specific: %+v", e)
	}

	// An inform is answered: snmptrap -Ci fails unless it gets a response.
	snmptrap(t, "-Ci", "-r", "0", "-t", "3", "-v", "2c", "-c", "public", addr, "", "1.3.6.1.6.3.1.1.5.1")
	if e := wait(t, ch); e.Name != "coldStart" || !strings.HasSuffix(e.Detail, "[inform]") {
		t.Errorf("inform: %+v", e)
	}

	snmptrap(t, "-v", "3", "-e", "0x8000000001020304", "-u", "trapuser", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123",
		"-x", "AES", "-X", "privpass123", addr, "", "1.3.6.1.6.3.1.1.5.5")
	if e := wait(t, ch); e.Name != "authenticationFailure" || e.Device != "core-switch" {
		t.Errorf("v3: %+v", e)
	}
	// A v3 inform: snmptrap -Ci discovers the receiver's engine ID with
	// a probe, sends the inform under keys localized to it, and fails
	// unless the authenticated, encrypted response comes back.
	relay := newUDPRelay(t, addr)
	snmptrap(t, "-Ci", "-r", "0", "-t", "3", "-v", "3", "-u", "trapuser", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123",
		"-x", "AES", "-X", "privpass123", relay.Addr().String(), "", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7")
	if e := wait(t, ch); e.Name != "linkDown" || e.Device != "core-switch" || !strings.HasSuffix(e.Detail, "[inform]") {
		t.Errorf("v3 inform: %+v", e)
	}
	// The same inform replayed later than the time window is refused
	// (and answered with a report saying why), not turned into an event.
	relay.mu.Lock()
	captured := relay.last
	relay.mu.Unlock()
	fake.Advance(informWindow + 10*time.Second)
	if _, _, err := r.decode(captured, relay.Addr()); err == nil || !strings.Contains(err.Error(), "outside the time window") {
		t.Errorf("replayed v3 inform after the window: %v", err)
	}
	// A sender configured with the engine ID skips the discovery.
	snmptrap(t, "-Ci", "-r", "0", "-t", "3", "-v", "3", "-e", fmt.Sprintf("0x%x", r.EngineID()), "-u", "trapuser", "-l", "authPriv", "-a", "SHA-256", "-A", "authpass123",
		"-x", "AES", "-X", "privpass123", addr, "", "1.3.6.1.6.3.1.1.5.4")
	if e := wait(t, ch); e.Name != "linkUp" || !strings.HasSuffix(e.Detail, "[inform]") {
		t.Errorf("v3 inform with -e: %+v", e)
	}
	snmptrap(t, "-v", "2c", "-c", "public", addr, "", "1.3.6.1.6.3.1.1.5.2")
	if e := wait(t, ch); e.Name != "warmStart" {
		t.Errorf("warmStart: %+v", e)
	}

	// Rejected: wrong community, wrong v3 password. Garbage: counted.
	snmptrap(t, "-v", "2c", "-c", "nope", addr, "", "1.3.6.1.6.3.1.1.5.3")
	snmptrap(t, "-v", "3", "-e", "0x8000000001020304", "-u", "trapuser", "-l", "authPriv", "-a", "SHA-256", "-A", "wrongpass123",
		"-x", "AES", "-X", "privpass123", addr, "", "1.3.6.1.6.3.1.1.5.5")
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, junk := range [][]byte{{0x30}, {0x30, 0x82, 0xff, 0xff, 0x02}, []byte("GET / HTTP/1.0\r\n\r\n"), {0x30, 0x03, 0x02, 0x01, 0x01}} {
		c.Write(junk)
	}
	c.Close()
	// The receiver still works, and the bad packets were counted.
	snmptrap(t, "-v", "2c", "-c", "public", addr, "", "1.3.6.1.6.3.1.1.5.4")
	if e := wait(t, ch); e.Name != "linkUp" {
		t.Errorf("after junk: %+v", e)
	}
	// The replay above was refused through decode, not handle, so it is
	// not in the counts.
	st := r.Stats()
	if st.Accepted != 9 || st.Dropped[DropMalformed] != 4 || st.Dropped[DropCommunity] != 1 || st.Dropped[DropV3] != 1 || st.InformResponses != 3 || st.Reports < 2 {
		t.Errorf("stats %+v, want 9 accepted, 4 malformed, 1 for the community, 1 for v3, 3 inform responses, 2 or more reports", st)
	}
}

// udpRelay forwards one client's datagrams to a receiver and the answers
// back, keeping the last datagram the client sent.
type udpRelay struct {
	net.PacketConn
	mu   sync.Mutex
	last []byte
}

func newUDPRelay(t *testing.T, target string) *udpRelay {
	t.Helper()
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.Dial("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close(); back.Close() })
	rl := &udpRelay{PacketConn: front}
	var client atomic.Pointer[net.Addr]
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			client.Store(&from)
			rl.mu.Lock()
			rl.last = append([]byte(nil), buf[:n]...)
			rl.mu.Unlock()
			back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if c := client.Load(); c != nil {
				front.WriteTo(buf[:n], *c)
			}
		}
	}()
	return rl
}

func (rl *udpRelay) Addr() net.Addr { return rl.LocalAddr() }

func seedTraps(tb testing.TB) [][]byte {
	var out [][]byte
	for _, p := range []*gosnmp.SnmpPacket{
		{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, RequestID: 7, Variables: []gosnmp.SnmpPDU{
			{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(100)},
			{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"},
			{Name: ".1.3.6.1.2.1.2.2.1.1.2", Type: gosnmp.Integer, Value: 2}}},
		{Version: gosnmp.Version1, Community: "public", PDUType: gosnmp.Trap, SnmpTrap: gosnmp.SnmpTrap{Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "127.0.0.1", GenericTrap: 0, Timestamp: 5}},
	} {
		b, err := p.MarshalMsg()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestDecodeSurvivesTruncation(t *testing.T) {
	// Every prefix of a valid trap: an error or an event, never a panic.
	r := closedReceiver(t, TrapConfig{Logf: t.Logf, AcceptUnknownSources: true, AcceptAnyCommunity: true})
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	for _, p := range seedTraps(t) {
		ok := 0
		for i := 0; i <= len(p); i++ {
			if _, _, err := r.decode(p[:i], from); err == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d prefixes decoded, want only the whole packet", ok, len(p)+1)
		}
	}
}
