package discovery

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

func TestLimiterHoldsTheCeiling(t *testing.T) {
	l := newLimiter(200)
	start := time.Now()
	for i := 0; i < 100; i++ {
		l.wait(context.Background())
	}
	// 100 tokens at 200/s: the first is free, the 100th at 495 ms.
	if took := time.Since(start); took < 490*time.Millisecond || took > 700*time.Millisecond {
		t.Fatalf("100 tokens at 200/s took %s", took)
	}
}

func TestOUIVendors(t *testing.T) {
	emb := EmbeddedOUI()
	if len(emb.m) < 30000 || !strings.HasPrefix(emb.Source, "embedded (IEEE MA-L registry from Debian ieee-data, 20") {
		t.Fatalf("embedded table: %d entries, source %q", len(emb.m), emb.Source)
	}
	for mac, want := range map[string]string{"3c:d9:2b:01:02:03": "Hewlett Packard", "00-00-0C-00-00-00": "Cisco", "00:05:5D:aa:bb:cc": "D-Link"} {
		if v := emb.Vendor(mac); !strings.Contains(strings.ToLower(v), strings.ToLower(want)) {
			t.Errorf("%s: %q, want %s", mac, v, want)
		}
	}
	if v := emb.Vendor("02:00:00:00:00:01"); v != "" {
		t.Errorf("locally administered address has vendor %q", v)
	}
	f, err := os.Open(SystemOUIFile)
	if err != nil {
		t.Skip("no " + SystemOUIFile + " (Debian ieee-data): only the embedded table checked")
	}
	defer f.Close()
	sys, err := ReadOUICSV(f)
	if err != nil || len(sys.m) < 30000 {
		t.Fatalf("system table: %d entries, %v", len(sys.m), err)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name  string
		h     Host
		class string
		why   string
	}{
		{"printer mib and 9100", Host{OpenPorts: []int{9100}, SNMP: &System{MIBs: []string{"printer", "host_resources"}}}, "printer", "Printer-MIB answers"},
		{"9100 alone", Host{OpenPorts: []int{80, 9100}}, "printer", "port 9100 open (raw printing)"},
		{"ups mib", Host{SNMP: &System{MIBs: []string{"ups"}, Enterprise: 705}}, "ups", "UPS-MIB answers"},
		{"apc pdu", Host{SNMP: &System{MIBs: []string{"apc_pdu"}, Enterprise: 318}}, "pdu", "APC rack PDU MIB answers"},
		{"bridge", Host{SNMP: &System{BridgePorts: 28, Interfaces: 30, Forwarding: true}}, "switch", "BRIDGE-MIB answers with 28 ports"},
		{"linux server", Host{OpenPorts: []int{22}, SNMP: &System{Descr: "Linux db1", MIBs: []string{"host_resources"}}}, "server", "HOST-RESOURCES-MIB storage answers"},
		{"ssh and web", Host{OpenPorts: []int{22, 443}}, "server", "port 22 open (SSH)"},
		{"smb only", Host{OpenPorts: []int{445}}, "workstation", "port 445 open (SMB) without RDP or SSH"},
		{"palo alto", Host{SNMP: &System{Enterprise: 25461}}, "firewall", "sysObjectID/sysDescr of a firewall"},
		{"ubiquiti", Host{SNMP: &System{Enterprise: 41112}}, "access_point", "sysObjectID/sysDescr of a wireless access point"},
		{"router", Host{SNMP: &System{Forwarding: true, Interfaces: 4}}, "router", "SNMP ipForwarding is on with 4 interfaces"},
		{"camera by vendor", Host{Vendor: "Hangzhou Hikvision Digital Technology Co.,Ltd.", OpenPorts: []int{80}}, "camera", "MAC vendor Hangzhou Hikvision Digital Technology Co.,Ltd."},
		{"echo only", Host{ICMP: true}, "unknown", "answers ICMP echo only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.h
			classify(&h)
			if h.Class != c.class || !slices.Contains(h.Evidence, c.why) {
				t.Errorf("%s (%.2f) %q, want %s with %q", h.Class, h.Confidence, h.Evidence, c.class, c.why)
			}
			if (h.Class == "unknown") != (h.Confidence == 0) || h.Confidence > 0.99 {
				t.Errorf("confidence %.2f for %s", h.Confidence, h.Class)
			}
		})
	}
}

func TestSuggestOnlyWhatAnswered(t *testing.T) {
	snmp := &checks.SNMP{Community: "s3cret"}
	hosts := []Host{
		{IP: netip.MustParseAddr("192.0.2.5"), ICMP: true, OpenPorts: []int{9100}, Class: "printer", SNMP: &System{Name: "prn1", MIBs: []string{"printer"}}},
		{IP: netip.MustParseAddr("192.0.2.6"), ICMP: true, Class: "switch", SNMP: &System{Interfaces: 28, BridgePorts: 28, MIBs: []string{"bridge"}}},
		{IP: netip.MustParseAddr("192.0.2.7"), ICMP: true, Class: "ups", SNMP: &System{MIBs: []string{"ups"}}},
		{IP: netip.MustParseAddr("192.0.2.8"), ICMP: true, Class: "server", OpenPorts: []int{22, 443}, Names: []string{"web1.example.net"}},
		{IP: netip.MustParseAddr("192.0.2.9"), ICMP: false, ARP: true, Class: "workstation", OpenPorts: []int{445}},
		{IP: netip.MustParseAddr("192.0.2.10"), ICMP: true, Class: "printer", OpenPorts: []int{9100}}, // no SNMP: no snmp_printer
	}
	ss := Suggest(hosts, snmp)
	var kinds []string
	for _, s := range ss {
		for _, c := range s.Checks {
			kinds = append(kinds, s.Device.Name+":"+c.Kind+":"+c.Target)
		}
	}
	want := []string{"prn1:snmp_printer:prn1", "prn1:ping:192.0.2.5",
		"switch-192-0-2-6:snmp_interfaces:switch-192-0-2-6", "switch-192-0-2-6:ping:192.0.2.6",
		"ups-192-0-2-7:snmp_ups:ups-192-0-2-7", "ups-192-0-2-7:ping:192.0.2.7",
		"web1:ping:192.0.2.8", "web1:tcp:192.0.2.8:22", "web1:tcp:192.0.2.8:443",
		"workstation-192-0-2-9:tcp:192.0.2.9:445",
		"printer-192-0-2-10:ping:192.0.2.10"}
	if !slices.Equal(kinds, want) {
		t.Errorf("suggested\n%s\nwant\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}
	b, err := SuggestYAML(ss)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Devices []checks.Device `yaml:"devices"`
	}
	if err := yaml.Unmarshal(b, &back); err != nil || len(back.Devices) != 6 || back.Devices[0].SNMP == nil || back.Devices[0].SNMP.Community.Reveal() != "s3cret" || back.Devices[5].SNMP != nil {
		t.Errorf("YAML does not read back as devices (%v):\n%s", err, b)
	}
	checks.ValidateDevices(back.Devices, func(i int, field, format string, args ...any) {
		t.Errorf("device %d %s: "+format, append([]any{i, field}, args...)...)
	})
}

func TestConfigSection(t *testing.T) {
	c := &Config{}
	if err := c.check(nil); err != nil || c.Rate != DefaultRate || c.Interval != DefaultInterval || len(c.Enabled()) != 0 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c = &Config{Subnets: []SubnetConfig{{CIDR: "192.0.2.0/24", Enabled: true}, {CIDR: "198.51.100.0/24"}}}
	if err := c.check(nil); err != nil || !slices.Equal(c.Enabled(), []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}) {
		t.Fatalf("enabled: %v %v", c.Enabled(), err)
	}
	for _, bad := range []struct {
		c    Config
		want string
	}{
		{Config{Subnets: []SubnetConfig{{CIDR: "192.0.2.1"}}}, `subnets[0].cidr: "192.0.2.1" is not a CIDR subnet (e.g. 192.0.2.0/24)`},
		{Config{Subnets: []SubnetConfig{{CIDR: "10.0.0.0/8"}}}, `subnets[0].cidr: 10.0.0.0/8 is larger than a /16`},
		{Config{Subnets: []SubnetConfig{{CIDR: "2001:db8::/64"}}}, `subnets[0].cidr: 2001:db8::/64: only IPv4 subnets are swept`},
		{Config{Rate: 10000}, `rate: 10000 is out of range (1 to 5000 probes/s)`},
		{Config{Interval: time.Minute}, `interval: 1m0s is out of range (5m0s to 168h)`},
		{Config{Ports: []int{0}}, `ports[0]: 0 is not a TCP port (1 to 65535)`},
	} {
		err := bad.c.check(nil)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("got %v, want %q", err, bad.want)
		}
	}
}

// TestSweepLoopback sweeps 127.0.0.0/29 (all of it is this machine):
// TCP listeners and a web page on 127.0.0.2, nothing else open.
func TestSweepLoopback(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html><title>Loopback\x1b[31m page</title></html>"))
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("cannot listen on 127.0.0.2: ", err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	res, err := Sweep(context.Background(), Options{Subnet: netip.MustParsePrefix("127.0.0.0/29"), Rate: 500, Ports: []int{port, 9},
		Neighbours: func() (map[netip.Addr]Neighbour, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Addresses != 6 {
		t.Errorf("%d addresses", res.Addresses)
	}
	var two *Host
	for i := range res.Hosts {
		if res.Hosts[i].IP == netip.MustParseAddr("127.0.0.2") {
			two = &res.Hosts[i]
		}
	}
	if two == nil {
		t.Fatalf("127.0.0.2 not found: %+v %v", res.Hosts, res.Notes)
	}
	if !slices.Equal(two.OpenPorts, []int{port}) {
		t.Errorf("open ports %v, want %d", two.OpenPorts, port)
	}
	_ = strconv.Itoa
}
