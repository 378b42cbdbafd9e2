package snmp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
)

// TestTrapReceiverFollowsConfig: devices, communities and v3 users given
// to a running receiver apply to the next packet (security issue item 12).
func TestTrapReceiverFollowsConfig(t *testing.T) {
	r := closedReceiver(t, TrapConfig{Logf: t.Logf})
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	v2c := floodTrap(t, "c0mm", 1, 5)
	if _, _, err := r.decode(v2c, from); dropReason(err) != DropUnknownSource {
		t.Fatalf("no devices: %v, want %s", err, DropUnknownSource)
	}
	dev := []TrapDevice{{Name: "sw", Address: "127.0.0.1:1161"}}
	if err := r.SetConfig(TrapConfig{Devices: dev}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.decode(v2c, from); dropReason(err) != DropCommunity {
		t.Fatalf("device without the community: %v, want %s", err, DropCommunity)
	}
	dev[0].Community = "c0mm"
	r.SetConfig(TrapConfig{Devices: dev})
	if ev, _, err := r.decode(v2c, from); err != nil || ev.Device != "sw" {
		t.Fatalf("the device's own community: %+v %v", ev, err)
	}
	// The device's community is not accepted from another address.
	r.SetConfig(TrapConfig{Devices: dev, AcceptUnknownSources: true})
	if ev, _, err := r.decode(v2c, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}); dropReason(err) != DropCommunity {
		t.Fatalf("another address with the device's community: %+v %v", ev, err)
	}
	r.SetConfig(TrapConfig{Devices: dev, AcceptUnknownSources: true, Communities: []string{"c0mm"}})
	if ev, _, err := r.decode(v2c, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}); err != nil || ev.Device != "127.0.0.9" {
		t.Fatalf("unknown source accepted, traps.communities: %+v %v", ev, err)
	}
	// v3 users.
	// A trap net-snmp's snmptrap sent (authPriv, SHA-256, AES).
	user := checks.TrapUser{User: "trapuser", AuthProtocol: "SHA256", AuthPassword: "authpass123", PrivProtocol: "AES", PrivPassword: "privpass123"}
	b := corpusPacket(t, "v3-authpriv-coldstart")
	if _, _, err := r.decode(b, from); dropReason(err) != DropV3 {
		t.Fatalf("no v3 users: %v, want %s", err, DropV3)
	}
	if err := r.SetConfig(TrapConfig{Devices: dev, Users: []checks.TrapUser{user}}); err != nil {
		t.Fatal(err)
	}
	if ev, _, err := r.decode(b, from); err != nil || ev.Name != "coldStart" || ev.Device != "sw" {
		t.Fatalf("after adding the v3 user: %+v %v", ev, err)
	}
	// A bad config is refused and the running one stays.
	if err := r.SetConfig(TrapConfig{Users: []checks.TrapUser{{User: "x", AuthProtocol: "SHA", AuthPassword: "short"}}}); err == nil {
		t.Fatal("a user with a short password was accepted")
	}
	if _, _, err := r.decode(b, from); err != nil {
		t.Fatalf("after a refused config: %v", err)
	}
}

// TestTrapDevicesByHostName: a device configured by host name is
// recognised by the addresses the name resolves to.
func TestTrapDevicesByHostName(t *testing.T) {
	looked := make(chan string, 10)
	cfg := TrapConfig{Logf: t.Logf, Devices: []TrapDevice{{Name: "printer", Address: "printer.test", Community: "pub"}},
		LookupHost: func(ctx context.Context, host string) ([]netip.Addr, error) {
			looked <- host
			if host == "printer.test" {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}
			return nil, errors.New("no such host")
		}}
	r, err := NewTrapReceiver("127.0.0.1:0", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runReceiver(t, r)
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	pkt := floodTrap(t, "pub", 1, 5)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, _, err := r.decode(pkt, from)
		if err == nil && ev.Device == "printer" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("printer.test never recognised: %+v %v", ev, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A new config's names are looked up again; the old ones stop.
	cfg.Devices[0].Address = "gone.test"
	r.SetConfig(cfg)
	for h := range looked {
		if h == "gone.test" {
			break
		}
	}
	if _, _, err := r.decode(pkt, from); dropReason(err) != DropUnknownSource {
		t.Fatalf("after the device moved to a name that does not resolve: %v", err)
	}
}

func TestTrapsConfig(t *testing.T) {
	cfg, err := config.Parse("site.yaml", []byte(`site: t
traps: {listen: "127.0.0.1:1162", accept_unknown_sources: true, accept_any_community: true, rate_limit: {per_source: 5}}
`))
	if err != nil {
		t.Fatal(err)
	}
	tc := TrapConfigFor(cfg.Traps, cfg.Devices)
	if !tc.AcceptUnknownSources || !tc.AcceptAnyCommunity || tc.Rate.PerSource != 5 || tc.Rate.Total != checks.DefaultTrapRateTotal {
		t.Errorf("options: %+v", tc)
	}
	// Defaults: what the issue asks for.
	def := checks.Traps{}
	if errs := def.Validate(); len(errs) > 0 || def.AcceptUnknownSources || def.AcceptAnyCommunity || def.RateLimit.PerSource != 20 || def.RateLimit.Total != 200 {
		t.Errorf("defaults: %+v %v", def, errs)
	}
	bad := checks.Traps{RateLimit: checks.TrapRateLimit{PerSource: -1}}
	if errs := bad.Validate(); len(errs) != 1 || errs[0].Error() != "traps.rate_limit.per_source: -1 traps/s is not 0.01 to 100000 (default 20)" {
		t.Errorf("bad rate: %v", errs)
	}
	if w := strings.Join(TrapConfigFor(checks.Traps{}, nil).Warnings(), "; "); !strings.Contains(w, "no devices") || !strings.Contains(w, "no v1/v2c community") {
		t.Errorf("warnings for an empty config: %s", w)
	}
}

// corpusPacket reads a packet of the fuzz corpus (captured from net-snmp).
func corpusPacket(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzTrapPacket", name))
	if err != nil {
		tb.Fatal(err)
	}
	_, lit, _ := strings.Cut(strings.TrimSpace(string(b)), "[]byte(")
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}
