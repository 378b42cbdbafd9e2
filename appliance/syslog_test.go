package appliance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance"
	"outpost/checks"
)

// freeUDP and freeTCP find loopback ports for a config (the kernel may
// hand them out again, rarely, before the daemon binds them).
func freeUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

func freeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// storedLines are the syslog lines the daemon's store holds (committed
// or waiting for the next commit).
func storedLines(a *appliance.Appliance, device string) []checks.Event {
	var out []checks.Event
	a.Store().ScanEvents(checks.EventQuery{Source: checks.SourceSyslog, Devices: []string{device}}, func(e checks.Event) bool {
		out = append(out, e)
		return true
	})
	return out
}

// logsStats asks the daemon's control socket, as `outpost logs --stats`
// does.
func logsStats(t *testing.T, cfgPath string) appliance.LogsStats {
	t.Helper()
	sock := filepath.Join(filepath.Dir(cfgPath), "data", "control.sock")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := client.Get("http://outpost/logs/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st appliance.LogsStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func sendUDP(t *testing.T, from, to string, lines ...string) {
	t.Helper()
	c, err := net.ListenPacket("udp", from+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp", to)
	for i, l := range lines {
		if _, err := c.WriteTo([]byte(l), dst); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond) // the kernel keeps them all for the receiver
		}
	}
}

// A log rule opens an incident through the incident engine when more
// than 2 failed logins arrive within a minute, carries the line, and
// resolves when the clear line comes; a flood is cut to the sender's
// rate; a reload adds a source without a restart and sets the store's
// log bounds.
func TestSyslogRuleOpensAndResolvesIncident(t *testing.T) {
	udp, tcp := freeUDP(t), freeTCP(t)
	site := func(sources string) string {
		return fmt.Sprintf(`site: Acme
incidents: {confirm: 1, recover: 1}
syslog: {udp: '%s', tcp: '%s', sources: [%s], rate_limit: {per_source: 40}, retention: {per_device: 1MiB, total: 8MiB}}
devices:
  - {name: gw, address: 127.0.0.1, class: router}
checks:
  - id: failed-logins
    kind: log_match
    interval: 1s
    options: {device: gw, app: sshd, regex: 'Failed password', threshold: 2, window: 1m, quiet: 1h, clear: 'Accepted password'}
`, udp, tcp, sources)
	}
	a, path := MustRun(t, site(""))
	// UDP is not acknowledged: a probe goes out per poll until one is
	// kept (the receiver may not be bound yet for the first).
	waitFor(t, "the receiver to keep a line", patience, func() (bool, string) {
		sendUDP(t, "127.0.0.1", udp, "<13>Mar  4 11:59:58 gw probe: hello")
		time.Sleep(20 * time.Millisecond)
		return len(storedLines(a, "gw")) > 0, "no line stored"
	})
	for i := range 3 {
		sendUDP(t, "127.0.0.1", udp, fmt.Sprintf("<38>Mar  4 11:59:58 gw sshd[%d]: Failed password for root from 198.51.100.7", 100+i))
	}
	var inc string
	waitFor(t, "the failed-logins incident", patience, func() (bool, string) {
		list, _ := a.Incidents().List(true, 10)
		for _, i := range list {
			if i.Check == "failed-logins" {
				inc = i.Summary
				return true, ""
			}
		}
		return false, fmt.Sprintf("open incidents: %+v", list)
	})
	if !strings.Contains(inc, "more than 2 matching in 1m0s") || !strings.Contains(inc, "gw sshd: Failed password for root from 198.51.100.7") {
		t.Fatalf("incident summary: %q", inc)
	}
	// The clear line over TCP, newline-framed.
	c, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "<38>Mar  4 12:00:01 gw sshd[200]: Accepted password for root from 198.51.100.7\n")
	c.Close()
	waitFor(t, "the incident to resolve", patience, func() (bool, string) {
		list, _ := a.Incidents().List(true, 10)
		return len(list) == 0, fmt.Sprintf("open incidents: %+v", list)
	})
	all, _ := a.Incidents().List(false, 10)
	if len(all) != 1 || all[0].Resolved == nil {
		t.Fatalf("incidents: %+v", all)
	}

	// A flood from the device: its bucket holds 5 s of 40 lines/s, so
	// about 200 of 3,000 are kept (the clock runs: a few more refill).
	before := len(storedLines(a, "gw"))
	var flood []string
	for i := range 3000 {
		flood = append(flood, fmt.Sprintf("<13>Mar  4 12:00:02 gw noisy: line %d", i))
	}
	sendUDP(t, "127.0.0.1", udp, flood...)
	waitFor(t, "the flood to be judged", patience, func() (bool, string) {
		kept := len(storedLines(a, "gw")) - before
		return kept >= 150, fmt.Sprintf("%d kept", kept)
	})
	waitFor(t, "the whole flood to be read", patience, func() (bool, string) {
		st := logsStats(t, path)
		return st.Receiver != nil && st.Receiver.Dropped["rate_source"]+st.Receiver.Accepted >= 3000+5, fmt.Sprintf("%+v", st.Receiver)
	})
	if kept := len(storedLines(a, "gw")) - before; kept > 400 {
		t.Fatalf("%d of 3000 flood lines kept; the rate is 40/s in bursts of 200", kept)
	}
	if u, err := a.Store().LogUsage(); err != nil || u.Bounds.DeviceBytes != 1<<20 || u.Bounds.TotalBytes != 8<<20 {
		t.Fatalf("store's log bounds: %+v %v", u.Bounds, err)
	}

	// Lines from 127.0.0.2 are dropped until a reload lists it.
	sendUDP(t, "127.0.0.2", udp, "<13>Mar  4 12:00:03 nas smbd: before")
	if err := os.WriteFile(path, []byte(site("127.0.0.2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a line from the new source", patience, func() (bool, string) {
		sendUDP(t, "127.0.0.2", udp, "<13>Mar  4 12:00:04 nas smbd: after")
		time.Sleep(20 * time.Millisecond)
		lines := storedLines(a, "127.0.0.2")
		for _, l := range lines {
			if l.Detail == "before" {
				t.Fatal("a line from an unknown source was kept")
			}
		}
		return len(lines) > 0, "nothing from 127.0.0.2"
	})
}
