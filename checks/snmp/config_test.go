package snmp

import (
	"strings"
	"testing"

	"outpost/appliance/config"
	"outpost/checks"
)

// Every protocol name the config accepts maps to a gosnmp constant.
func TestConfigNamesMap(t *testing.T) {
	for _, n := range checks.SNMPAuthProtocols {
		if _, ok := AuthProtocols[n]; !ok {
			t.Errorf("auth %s has no mapping", n)
		}
	}
	for _, n := range checks.SNMPPrivProtocols {
		if _, ok := PrivProtocols[n]; !ok {
			t.Errorf("priv %s has no mapping", n)
		}
	}
	for _, n := range checks.SNMPSecurityLevels {
		if _, ok := SecurityLevels[n]; !ok {
			t.Errorf("level %s has no mapping", n)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ device, check, want string }{
		{`{name: sw, address: 127.0.0.1, snmp: {version: "4", community: x}}`, "", `site.yaml:3: devices[0].snmp.version: "4" is not an SNMP version (one of 1, 2c, 3)`},
		{`{name: sw, address: 127.0.0.1, snmp: {}}`, "", `site.yaml:3: devices[0].snmp.community: is required for SNMP v2c`},
		{`{name: sw, address: 127.0.0.1, snmp: {version: "3", user: u, auth_protocol: SHA1, auth_password: 12345678}}`, "", `site.yaml:3: devices[0].snmp.auth_protocol: "SHA1" is not an auth protocol (one of MD5, SHA, SHA224, SHA256, SHA384, SHA512)`},
		{`{name: sw, address: 127.0.0.1, snmp: {version: "3", user: u, auth_protocol: SHA, auth_password: short}}`, "", `site.yaml:3: devices[0].snmp.auth_password: must be at least 8 characters (RFC 3414)`},
		{`{name: sw, address: 127.0.0.1, snmp: {version: "3", user: u, security_level: authPriv, auth_protocol: SHA, auth_password: 12345678, priv_protocol: AES128, priv_password: 12345678}}`, "", `site.yaml:3: devices[0].snmp.priv_protocol: "AES128" is not a privacy protocol (one of DES, AES, AES192, AES256, AES192C, AES256C)`},
		{`{name: sw, address: 127.0.0.1, snmp: {community: c, max_concurrency: 0, retries: 11}}`, "", `site.yaml:3: devices[0].snmp.retries: 11 is out of range (0 to 10)`},
		{`{name: sw, address: 127.0.0.1, snmp: {community: c}}`, "{id: c, kind: snmp_cpu, target: nope}", `site.yaml:5: checks[0].target: "nope" is not a configured device (SNMP checks name a device from devices:, which holds the credentials)`},
		{`{name: sw, address: 127.0.0.1}`, "{id: c, kind: snmp_cpu, target: sw}", `site.yaml:5: checks[0].target: device "sw" has no snmp: section`},
		{`{name: sw, snmp: {community: c}}`, "{id: c, kind: snmp_cpu, target: sw}", `site.yaml:5: checks[0].target: device "sw": snmp: address is required`},
		{`{name: sw, address: 127.0.0.1, snmp: {community: c}}`, "{id: c, kind: snmp_get, target: sw, options: {oid: sysUpTime.0}}", `site.yaml:5: checks[0].options.oid: ".sysUpTime.0" is not a numeric OID (names like sysUpTime.0 are not resolved: use the number)`},
		{`{name: sw, address: 127.0.0.1, snmp: {community: c}}`, "{id: c, kind: snmp_interfaces, target: sw, options: {down: maybe}}", `site.yaml:5: checks[0].options.down: "maybe" is not one of ignore, warning, critical`},
		{`{name: sw, address: 127.0.0.1, snmp: {community: c}}`, "{id: c, kind: snmp_storage, target: sw, options: {types: [disk]}}", `site.yaml:5: checks[0].options.types: "disk" is not a storage type (one of other, ram, virtual_memory, fixed_disk, removable_disk, floppy_disk, compact_disc, ram_disk, flash_memory, network_disk, ucd_disk)`},
	}
	for _, c := range cases {
		yml := "site: t\ndevices:\n  - " + c.device + "\n"
		if c.check != "" {
			yml += "checks:\n  - " + c.check + "\n"
		}
		_, err := config.Parse("site.yaml", []byte(yml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config:\n%s\ngot  %v\nwant %s", yml, err, c.want)
		}
	}
	// Defaults: version 2c, port 161, timeout 2s, retries 1, 25, 2.
	cfg, err := config.Parse("site.yaml", []byte("site: t\ndevices:\n  - {name: sw, address: 127.0.0.1, snmp: {community: c}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := TargetFromDevice(cfg.Device("sw"))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Version != "2c" || tg.Port != 161 || tg.Timeout.String() != "2s" || tg.Retries != 1 || tg.MaxRepetitions != 25 || tg.MaxConcurrency != 2 {
		t.Errorf("defaults: %+v", tg)
	}
	tr := checks.Traps{Listen: "nohost", V3Users: []checks.TrapUser{{User: "u", AuthProtocol: "SHA", AuthPassword: "short"}}}
	errs := tr.Validate()
	if len(errs) != 2 || errs[0].Error() != `traps.listen: "nohost" is not host:port` || errs[1].Error() != "traps.v3_users[0].auth_password: must be at least 8 characters (RFC 3414)" {
		t.Errorf("traps: %v", errs)
	}
}
