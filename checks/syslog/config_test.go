package syslog_test

import (
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/syslog"
)

func TestConfigDefaultsAndErrors(t *testing.T) {
	cfg, err := config.Parse("s.yaml", []byte("site: t\nsyslog: {udp: '0.0.0.0:514', sources: [192.0.2.0/24, 198.51.100.7]}\ndevices: [{name: gw, address: 192.0.2.1}]\nchecks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := syslog.ConfigOf(cfg)
	if !c.Enabled() || c.RateLimit.PerSource != 100 || c.RateLimit.Total != 1000 || c.MaxConnections != 64 || c.IdleTimeout != 15*time.Minute ||
		c.Retention.MaxAge != 30*24*time.Hour || c.Retention.PerDevice != 16<<20 || c.Retention.Total != 256<<20 || c.Retention.Devices != 1000 {
		t.Fatalf("defaults: %+v", c)
	}
	p := syslog.PolicyFor(c, cfg.Devices)
	if len(p.Sources) != 2 || p.Sources[1].String() != "198.51.100.7/32" || len(p.Devices) != 1 || len(p.Warnings()) != 0 {
		t.Fatalf("policy: %+v", p)
	}
	if off := syslog.ConfigOf(&config.Config{}); off.Enabled() {
		t.Fatal("on without an address")
	}
	if w := syslog.PolicyFor(syslog.ConfigOf(&config.Config{}), []checks.Device{}).Warnings(); len(w) != 1 {
		t.Fatalf("warnings: %v", w)
	}
	cases := []struct{ section, err string }{
		{"{udp: 514}", `s.yaml:2: syslog.udp: "514" is not host:port (e.g. 0.0.0.0:514)`},
		{"{tcp: ':6514', tls: ':6514'}", `syslog.tls: ":6514" is also syslog.tcp`},
		{"{sources: [10.0.0.0/33]}", `syslog.sources[0]: "10.0.0.0/33" is not an address or a subnet (e.g. 192.0.2.7 or 192.0.2.0/24)`},
		{"{rate_limit: {per_source: -1}}", `syslog.rate_limit.per_source: -1 lines/s is not 0.01 to 1000000 (default 100)`},
		{"{max_connections: 5000}", `syslog.max_connections: 5000 is not 1 to 4096 (default 64)`},
		{"{retention: {per_device: 1KiB}}", `syslog.retention.per_device: 1.0 KiB is less than 64KiB (default 16MiB)`},
		{"{retention: {total: 1MiB}}", `syslog.retention.total: 1.0 MiB is less than retention.per_device (16.0 MiB)`},
		{"{retention: {max_age: 10m}}", `syslog.retention.max_age: 10m0s is not 1h to 400d (default 30d)`},
		{"{listen: ':514'}", `syslog.listen: unknown field`},
	}
	for _, tc := range cases {
		t.Run(tc.section, func(t *testing.T) {
			_, err := config.Parse("s.yaml", []byte("site: t\nsyslog: "+tc.section+"\nchecks: []\n"))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v\nwant %s", err, tc.err)
			}
		})
	}
}
