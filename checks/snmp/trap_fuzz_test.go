package snmp

import (
	"net"
	"strings"
	"testing"

	"outpost/checks"
)

// closedReceiver is a receiver that is never run: tests call decode and
// judge directly (answers go to a closed socket).
func closedReceiver(tb testing.TB, cfg TrapConfig) *TrapReceiver {
	tb.Helper()
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	r, err := NewTrapReceiver("127.0.0.1:0", cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r.conn.Close()
	return r
}

// FuzzTrapPacket feeds arbitrary bytes to the whole path of a packet
// (source, decoding, community and v3 checks, rates, the event, answers),
// without the receiver's recover: none of it may panic, and an accepted
// trap's event must be within the bounds. Seeds: traps encoded by gosnmp
// here, plus packets captured from net-snmp's snmptrap (v1, v2c, v2c
// inform, v3 authPriv trap, v3 discovery probe) in
// testdata/fuzz/FuzzTrapPacket. Run it with:
//
//	go test -run xxx -fuzz FuzzTrapPacket -fuzztime 20s ./checks/snmp/
func FuzzTrapPacket(f *testing.F) {
	for _, p := range seedTraps(f) {
		f.Add(p)
	}
	f.Add(floodTrap(f, "public", 40, 300))
	f.Add(discoveryProbe(f))
	var got []checks.Event
	// The v3 user matches the captured v3 seed, so the fuzzer reaches
	// authentication and decryption too; the device's address and
	// community match the seeds, so it reaches the event.
	r := closedReceiver(f, TrapConfig{Devices: []TrapDevice{{Name: "core-switch", Address: "127.0.0.1", Community: "public"}},
		Users: []checks.TrapUser{{User: "trapuser", AuthProtocol: "SHA256", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"}}})
	r.onEvent = func(e checks.Event) { got = append(got, e) }
	device := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	stranger := &net.UDPAddr{IP: net.IPv4(10, 9, 9, 9), Port: 1}
	f.Fuzz(func(t *testing.T, b []byte) {
		got = got[:0]
		r.judge(b, device)
		for _, e := range got {
			if e.Name == "" || e.Source != "trap" || e.Device == "" {
				t.Fatalf("accepted without a name, source or device: %+v", e)
			}
			if len(e.Fields) > 32 {
				t.Fatalf("%d fields, want at most 32", len(e.Fields))
			}
			for k, v := range e.Fields {
				if len(v) > maxTrapValue+len("…") || len(k) > maxTrapValue+len("…") {
					t.Fatalf("field %.40q: %d bytes", k, len(v))
				}
			}
		}
		if _, _, err := r.decode(b, stranger); err == nil || dropReason(err) != DropUnknownSource {
			t.Fatalf("from an unknown address: %v, want dropped as %s", err, DropUnknownSource)
		}
		// Decoding alone: an error or an event, never a panic.
		if ev, p, err := r.decode(b, device); err == nil && (p == nil || ev.Name == "") {
			t.Fatalf("decoded without error but no event: %+v", ev)
		} else if err != nil && strings.Contains(err.Error(), "encoder panic") {
			t.Logf("gosnmp: %v", err)
		}
	})
}
