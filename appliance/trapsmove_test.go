package appliance_test

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestTrapReceiverMovesOnReload: a reload that changes traps.listen
// moves the receiver at once: real traps (net-snmp's snmptrap) reach
// the new port, the old one is free again, and turning traps off frees
// it too. Before, the daemon logged "restart the daemon" and kept the
// old port.
func TestTrapReceiverMovesOnReload(t *testing.T) {
	bin, err := exec.LookPath("snmptrap")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("snmptrap is not installed (make test installs Debian's snmp)")
		}
		t.Skip("snmptrap is not installed")
	}
	free := func() string {
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	first, second := free(), free()
	site := func(listen string) string {
		return "site: Acme\ntraps: {listen: '" + listen + "'}\ndevices:\n  - {name: core-switch, address: 127.0.0.1, class: switch, snmp: {community: s3cret}}\nchecks: []\n"
	}
	a, path := MustRun(t, site(first))
	arrives := func(addr string) {
		t.Helper()
		waitFor(t, "a trap sent to "+addr+" to be stored", patience, func() (bool, string) {
			before := time.Now().Add(-time.Second)
			cmd := exec.Command(bin, "-v", "2c", "-c", "s3cret", addr, "", "1.3.6.1.6.3.1.1.5.3")
			cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+t.TempDir(), "SNMPCONFPATH="+t.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("snmptrap: %v %s", err, out)
			}
			time.Sleep(50 * time.Millisecond)
			a.Store().Flush()
			evs, _ := a.Store().Events("core-switch", before, time.Now().Add(time.Minute))
			return len(evs) > 0, ""
		})
	}
	freed := func(addr string) {
		t.Helper()
		waitFor(t, addr+" to be free again", patience, func() (bool, string) {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return false, err.Error()
			}
			pc.Close()
			return true, ""
		})
	}
	arrives(first)
	reload := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	reload(site(second))
	arrives(second)
	freed(first)
	reload("site: Acme\ndevices:\n  - {name: core-switch, address: 127.0.0.1, class: switch, snmp: {community: s3cret}}\nchecks: []\n")
	freed(second)
}
