package appliance_test

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSyslogReceiverMovesOnReload: a reload that changes syslog.udp
// moves the receiver at once: a line sent to the new port is stored,
// the old port is free again, and removing the section frees the new
// one. Before, the daemon asked for a restart and kept the old port.
func TestSyslogReceiverMovesOnReload(t *testing.T) {
	first, second := freeUDP(t), freeUDP(t)
	site := func(udp string) string {
		s := "site: Acme\n"
		if udp != "" {
			s += "syslog: {udp: '" + udp + "'}\n"
		}
		return s + "devices:\n  - {name: gw, address: 127.0.0.1, class: router}\nchecks: []\n"
	}
	a, path := MustRun(t, site(first))
	arrives := func(addr, text string) {
		t.Helper()
		waitFor(t, "a line sent to "+addr+" to be stored", patience, func() (bool, string) {
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("<134>Dec  1 10:00:00 gw app: " + text))
			c.Close()
			time.Sleep(50 * time.Millisecond)
			for _, e := range storedLines(a, "gw") {
				if strings.Contains(e.Detail, text) {
					return true, ""
				}
			}
			return false, ""
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
	reload := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	arrives(first, "before the move")
	reload(site(second))
	arrives(second, "after the move")
	freed(first)
	reload(site(""))
	freed(second)
}
