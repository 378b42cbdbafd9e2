package config

import (
	"fmt"
	"time"

	"outpost/healing"
)

var _ healing.SNMPDevice = (*Device)(nil)

// SNMPAccess tells the snmp_set remediation how to reach the device.
// SNMPv3 devices are not supported by snmp_set yet.
func (d *Device) SNMPAccess() (healing.SNMPAccess, error) {
	if d.SNMP == nil {
		return healing.SNMPAccess{}, fmt.Errorf("device %q has no snmp: section", d.Name)
	}
	s := d.SNMP
	a := healing.SNMPAccess{Address: d.Address, Port: s.Port, Version: s.Version, Community: s.Community.Reveal(), Timeout: s.Timeout, Retries: s.Retries}
	if a.Address == "" {
		return a, fmt.Errorf("device %q has no address", d.Name)
	}
	switch a.Version {
	case "":
		a.Version = "2c"
	case "1", "2c":
	case "3":
		return a, fmt.Errorf("device %q uses SNMPv3, which snmp_set does not support yet (v1 or v2c only)", d.Name)
	default:
		return a, fmt.Errorf("device %q: snmp version %q is not 1, 2c or 3", d.Name, a.Version)
	}
	if a.Port == 0 {
		a.Port = 161
	}
	if a.Timeout == 0 {
		a.Timeout = 2 * time.Second
	}
	if a.Community == "" {
		return a, fmt.Errorf("device %q has no snmp community", d.Name)
	}
	return a, nil
}
