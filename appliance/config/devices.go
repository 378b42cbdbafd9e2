package config

import (
	"fmt"
	"strings"
	"time"

	"outpost/checks"
)

// Device is a thing on the site network that checks refer to by name:
// its address, class, the parent it sits behind, and its credentials.
type Device struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// Class is server, workstation, printer, switch, router, ups,
	// access_point or other.
	Class string `yaml:"class"`
	// Parent is the device this one is reached through (dependencies).
	Parent string `yaml:"parent"`
	Group  string `yaml:"group"`
	// SNMP holds the device's SNMP credentials, if it speaks SNMP.
	SNMP *SNMP `yaml:"snmp"`

	line int
}

// SNMP is a device's SNMP access.
type SNMP struct {
	// Version is "1", "2c" (default) or "3".
	Version   string        `yaml:"version"`
	Port      int           `yaml:"port"`
	Community checks.Secret `yaml:"community"`
	// v3 fields.
	User          string        `yaml:"user"`
	SecurityLevel string        `yaml:"security_level"`
	AuthProtocol  string        `yaml:"auth_protocol"`
	AuthPassword  checks.Secret `yaml:"auth_password"`
	PrivProtocol  string        `yaml:"priv_protocol"`
	PrivPassword  checks.Secret `yaml:"priv_password"`
	Context       string        `yaml:"context"`
	// Transport tuning.
	Timeout        time.Duration `yaml:"timeout"`
	Retries        int           `yaml:"retries"`
	MaxRepetitions int           `yaml:"max_repetitions"`
	MaxConcurrency int           `yaml:"max_concurrency"`
}

// DeviceClasses lists the values Device.Class accepts.
var DeviceClasses = []string{"server", "workstation", "printer", "switch", "router", "ups", "access_point", "firewall", "pdu", "other"}

func (c *Config) validateDevices(d *decoder) {
	seen := map[string]bool{}
	for i := range c.Devices {
		dev := &c.Devices[i]
		path := fmt.Sprintf("devices[%d]", i)
		fail := func(field, format string, args ...any) {
			d.errs = append(d.errs, &Error{File: c.File, Line: dev.line, Field: path + "." + field, Msg: fmt.Sprintf(format, args...)})
		}
		switch {
		case dev.Name == "":
			fail("name", "is required")
		case seen[dev.Name]:
			fail("name", "%q is used twice", dev.Name)
		}
		seen[dev.Name] = true
		if dev.Class != "" && !contains(DeviceClasses, dev.Class) {
			fail("class", "%q is not a device class (one of %s)", dev.Class, strings.Join(DeviceClasses, ", "))
		}
	}
	for i := range c.Devices {
		dev := &c.Devices[i]
		if dev.Parent != "" && !seen[dev.Parent] {
			d.errs = append(d.errs, &Error{File: c.File, Line: dev.line, Field: fmt.Sprintf("devices[%d].parent", i), Msg: fmt.Sprintf("%q is not a configured device", dev.Parent)})
		}
	}
}

// Device returns the configured device with that name, or nil.
func (c *Config) Device(name string) *Device {
	for i := range c.Devices {
		if c.Devices[i].Name == name {
			return &c.Devices[i]
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
