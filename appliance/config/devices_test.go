package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"outpost/appliance/config"
)

// TestDeviceAddressIsHostOrIP: a device's address is a host name or an IP
// alone. Anything else (a port, a URL, brackets, spaces) is refused when
// the config loads, naming the file, the line and what goes where,
// instead of failing at run time as a lookup of "host:port:161".
func TestDeviceAddressIsHostOrIP(t *testing.T) {
	bad := map[string]string{
		"10.0.0.2:161":             `devices[0].address: "10.0.0.2:161" has a port: a device's address is a host name or IP alone (e.g. 10.0.0.2); the SNMP port is snmp.port (default 161), other ports belong in each check's target (e.g. tcp 10.0.0.2:22)`,
		"[::1]:161":                `devices[0].address: "[::1]:161" has a port: a device's address is a host name or IP alone (e.g. ::1); the SNMP port is snmp.port (default 161), other ports belong in each check's target (e.g. tcp [::1]:22)`,
		"printer.lan:9100":         `devices[0].address: "printer.lan:9100" has a port: a device's address is a host name or IP alone (e.g. printer.lan); the SNMP port is snmp.port (default 161), other ports belong in each check's target (e.g. tcp printer.lan:22)`,
		"[::1]":                    `devices[0].address: "[::1]" has brackets: write an IPv6 address bare (e.g. ::1), without a port`,
		"https://10.0.0.2:8443/ui": `devices[0].address: "https://10.0.0.2:8443/ui" is a URL: a device's address is a host name or IP alone (e.g. 10.0.0.2); a URL belongs in an http check's target`,
		"udp://[fe80::1]:161":      `devices[0].address: "udp://[fe80::1]:161" is a URL: a device's address is a host name or IP alone (e.g. fe80::1); a URL belongs in an http check's target`,
		"10.0.0.2 10.0.0.3":        `devices[0].address: "10.0.0.2 10.0.0.3" has spaces: a device's address is a host name or IP alone (e.g. 192.0.2.10 or printer.lan)`,
		" 10.0.0.2":                `devices[0].address: " 10.0.0.2" has spaces: a device's address is a host name or IP alone (e.g. 192.0.2.10 or printer.lan)`,
		"core switch":              `devices[0].address: "core switch" has spaces: a device's address is a host name or IP alone (e.g. 192.0.2.10 or printer.lan)`,
		"10.0.0.0/24":              `devices[0].address: "10.0.0.0/24" is not a host name or IP (letters, digits, '-' and '.', e.g. 192.0.2.10 or printer.lan)`,
		"-sw.lan":                  `devices[0].address: "-sw.lan" is not a host name or IP (letters, digits, '-' and '.', e.g. 192.0.2.10 or printer.lan)`,
		"sw..lan":                  `devices[0].address: "sw..lan" is not a host name or IP (letters, digits, '-' and '.', e.g. 192.0.2.10 or printer.lan)`,
	}
	for addr, want := range bad {
		t.Run(addr, func(t *testing.T) {
			p := writeDeviceSite(t, "site: Acme\ndevices:\n  - name: core-switch\n    class: switch\n    address: '"+addr+"'\n    snmp: {community: public}\nchecks: []\n")
			_, err := config.Load(p)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if want := p + ":3: " + want; err.Error() != want {
				t.Fatalf("error:\n%s\nwant:\n%s", err, want)
			}
		})
	}
	for _, addr := range []string{"10.0.0.2", "::1", "fe80::1%eth0", "2001:db8::9", "printer.lan", "printer.lan.", "PRN_01", "closet-ups"} {
		t.Run("ok "+addr, func(t *testing.T) {
			p := writeDeviceSite(t, "site: Acme\ndevices:\n  - {name: d, address: '"+addr+"', snmp: {community: public}}\nchecks: []\n")
			c, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Device("d").Address; got != addr {
				t.Fatalf("address %q, want %q", got, addr)
			}
		})
	}
}

func writeDeviceSite(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
