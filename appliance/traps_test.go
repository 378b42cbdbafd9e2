package appliance_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

// v2cTrap encodes a v2c linkDown with the community.
func v2cTrap(tb testing.TB, community string) []byte {
	tb.Helper()
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: gosnmp.SNMPv2Trap, RequestID: 1, Variables: []gosnmp.SnmpPDU{
		{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(100)},
		{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"},
		{Name: ".1.3.6.1.4.1.99.1", Type: gosnmp.OctetString, Value: strings.Repeat("x", 2000)}}}
	b, err := p.MarshalMsg()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// flood sends pkt n times from a socket on ip, pausing now and then so
// that the kernel keeps them all for the receiver.
func flood(tb testing.TB, ip, to string, pkt []byte, n int) {
	tb.Helper()
	c, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		tb.Skipf("cannot send from %s: %v", ip, err)
	}
	defer c.Close()
	dst, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if _, err := c.WriteTo(pkt, dst); err != nil {
			tb.Fatal(err)
		}
		if i%20 == 19 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// metricValue is the value of an unlabelled series in an exposition.
func metricValue(tb testing.TB, text, name string) int {
	tb.Helper()
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				tb.Fatalf("%s: %v", l, err)
			}
			return n
		}
	}
	tb.Fatalf("/metrics has no %s", name)
	return 0
}

func metricsText(tb testing.TB, statusAddr string) string {
	tb.Helper()
	resp, err := http.Get("http://" + statusAddr + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTrapFloodOnTheDaemon floods a running daemon's trap port (security
// issue items 5 and 12): spoofed traps from an unknown address and a burst
// from a configured device must not reach the store beyond the rate, the
// drops show in /metrics, and a config reload changes the communities the
// receiver accepts without a restart.
func TestTrapFloodOnTheDaemon(t *testing.T) {
	bin, err := exec.LookPath("snmptrap")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("snmptrap is not installed (make test installs Debian's snmp)")
		}
		t.Skip("snmptrap is not installed")
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := pc.LocalAddr().String()
	pc.Close()
	site := func(communities string) string {
		return "site: Acme\ntraps: {listen: '" + addr + "', communities: [" + communities + "]}\ndevices:\n  - {name: core-switch, address: 127.0.0.1, class: switch, snmp: {community: s3cret}}\nchecks: []\n"
	}
	a, path := MustRun(t, site("public"))
	stored := func(device string) []checks.Event {
		t.Helper()
		if err := a.Store().Flush(); err != nil {
			t.Fatal(err)
		}
		evs, err := a.Store().Events(device, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	events := func(device string) int { t.Helper(); return len(stored(device)) }
	snmptrap := func(community, trapOID string) {
		t.Helper()
		cmd := exec.Command(bin, "-v", "2c", "-c", community, addr, "", trapOID)
		cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+t.TempDir(), "SNMPCONFPATH="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("snmptrap: %v %s", err, out)
		}
	}
	// The receiver is up once a real trap with the device's community is
	// stored (the first may come before it is bound).
	waitFor(t, "the device's trap to arrive", patience, func() (bool, string) {
		snmptrap("s3cret", "1.3.6.1.6.3.1.1.5.3")
		time.Sleep(50 * time.Millisecond)
		return events("core-switch") > 0, ""
	})
	before := events("core-switch")
	// settle waits until the receiver has read n more packets.
	read := metricValue(t, metricsText(t, a.StatusAddr()), "outpost_traps_packets_total")
	settle := func(n int) {
		t.Helper()
		read += n
		waitFor(t, fmt.Sprintf("the receiver to read %d packets", read), 10*time.Second, func() (bool, string) {
			got := metricValue(t, metricsText(t, a.StatusAddr()), "outpost_traps_packets_total")
			return got >= read, fmt.Sprintf("read %d", got)
		})
	}

	// Spoofed: an address that is no device, with an accepted community.
	flood(t, "127.0.0.2", addr, v2cTrap(t, "public"), 1000)
	// A configured device: a community nobody configured, then a burst.
	flood(t, "127.0.0.1", addr, v2cTrap(t, "guess"), 1000)
	start := time.Now()
	flood(t, "127.0.0.1", addr, v2cTrap(t, "public"), 1000)
	settle(3000)
	if n := events("127.0.0.2"); n != 0 {
		t.Errorf("%d of 1000 traps from an unknown address were stored, want 0", n)
	}
	allowed := 100 + int(20*time.Since(start).Seconds()) + 1
	if n := events("core-switch") - before; n > allowed {
		t.Errorf("%d of a burst of 1000 traps from the device were stored, want at most %d (burst 100, then 20/s)", n, allowed)
	}
	m := metricsText(t, a.StatusAddr())
	for _, want := range []string{`outpost_traps_dropped_total{reason="unknown_source"} 1000`, `outpost_traps_dropped_total{reason="community"} 1000`,
		`outpost_traps_dropped_total{reason="rate_source"} `, `outpost_traps_accepted_total `} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}

	// A reload that replaces the community applies to the receiver.
	if err := os.WriteFile(path, []byte(site("private")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // the device's rate bucket refills
	n := events("core-switch")
	snmptrap("public", "1.3.6.1.6.3.1.1.5.3")  // linkDown
	snmptrap("private", "1.3.6.1.6.3.1.1.5.4") // linkUp
	time.Sleep(300 * time.Millisecond)
	if evs := stored("core-switch")[n:]; len(evs) != 1 || evs[0].Name != "linkUp" {
		t.Errorf("after a reload to communities [private], a public linkDown and a private linkUp: stored %+v, want the linkUp only", evs)
	}
	if m := metricsText(t, a.StatusAddr()); !strings.Contains(m, `outpost_traps_dropped_total{reason="community"} 1001`) {
		t.Errorf("the public trap after the reload was not dropped for its community:\n%s", m)
	}
}
