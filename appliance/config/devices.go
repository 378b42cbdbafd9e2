package config

import (
	"fmt"
	"net"
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

// SNMP defaults, applied when the device's snmp: section leaves them out.
const (
	DefaultSNMPPort           = 161
	DefaultSNMPTimeout        = 2 * time.Second
	DefaultSNMPRetries        = 1
	DefaultSNMPMaxRepetitions = 25
	DefaultSNMPMaxConcurrency = 2
)

// The names SNMP fields accept. checks/snmp maps each to gosnmp's
// constants (and tests that every name here has a mapping).
var (
	SNMPVersions       = []string{"1", "2c", "3"}
	SNMPSecurityLevels = []string{"noAuthNoPriv", "authNoPriv", "authPriv"}
	SNMPAuthProtocols  = []string{"MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}
	SNMPPrivProtocols  = []string{"DES", "AES", "AES192", "AES256", "AES192C", "AES256C"}
)

func (s *SNMP) applyDefaults() {
	if s.Version == "" {
		s.Version = "2c"
	}
	if s.Port == 0 {
		s.Port = DefaultSNMPPort
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultSNMPTimeout
	}
	if s.Retries == 0 {
		s.Retries = DefaultSNMPRetries
	}
	if s.MaxRepetitions == 0 {
		s.MaxRepetitions = DefaultSNMPMaxRepetitions
	}
	if s.MaxConcurrency == 0 {
		s.MaxConcurrency = DefaultSNMPMaxConcurrency
	}
	if s.Version == "3" && s.SecurityLevel == "" {
		switch {
		case s.PrivProtocol != "":
			s.SecurityLevel = "authPriv"
		case s.AuthProtocol != "":
			s.SecurityLevel = "authNoPriv"
		default:
			s.SecurityLevel = "noAuthNoPriv"
		}
	}
}

func (s *SNMP) validate(fail func(field, format string, args ...any)) {
	if !contains(SNMPVersions, s.Version) {
		fail("version", "%q is not an SNMP version (one of 1, 2c, 3)", s.Version)
		return
	}
	if s.Port < 1 || s.Port > 65535 {
		fail("port", "%d is out of range (1 to 65535)", s.Port)
	}
	if s.Timeout < 0 || s.Timeout > time.Minute {
		fail("timeout", "%s is out of range (up to 1m)", s.Timeout)
	}
	if s.Retries < 0 || s.Retries > 10 {
		fail("retries", "%d is out of range (0 to 10)", s.Retries)
	}
	if s.MaxRepetitions < 1 || s.MaxRepetitions > 100 {
		fail("max_repetitions", "%d is out of range (1 to 100)", s.MaxRepetitions)
	}
	if s.MaxConcurrency < 1 || s.MaxConcurrency > 16 {
		fail("max_concurrency", "%d is out of range (1 to 16)", s.MaxConcurrency)
	}
	if s.Version != "3" {
		if s.Community == "" {
			fail("community", "is required for SNMP v%s", s.Version)
		}
		if s.User != "" || s.AuthProtocol != "" || s.PrivProtocol != "" {
			fail("user", "is for SNMPv3 only (set version: \"3\")")
		}
		return
	}
	if s.Community != "" {
		fail("community", "is for SNMP v1/v2c only; v3 uses user and passwords")
	}
	if s.User == "" {
		fail("user", "is required for SNMPv3")
	}
	if !contains(SNMPSecurityLevels, s.SecurityLevel) {
		fail("security_level", "%q is not a security level (one of %s)", s.SecurityLevel, strings.Join(SNMPSecurityLevels, ", "))
		return
	}
	needAuth := s.SecurityLevel != "noAuthNoPriv"
	needPriv := s.SecurityLevel == "authPriv"
	switch {
	case needAuth && !contains(SNMPAuthProtocols, s.AuthProtocol):
		fail("auth_protocol", "%q is not an auth protocol (one of %s)", s.AuthProtocol, strings.Join(SNMPAuthProtocols, ", "))
	case needAuth && len(s.AuthPassword) < 8:
		fail("auth_password", "must be at least 8 characters (RFC 3414)")
	case !needAuth && (s.AuthProtocol != "" || s.AuthPassword != ""):
		fail("auth_protocol", "is set but security_level is %s", s.SecurityLevel)
	}
	switch {
	case needPriv && !contains(SNMPPrivProtocols, s.PrivProtocol):
		fail("priv_protocol", "%q is not a privacy protocol (one of %s)", s.PrivProtocol, strings.Join(SNMPPrivProtocols, ", "))
	case needPriv && len(s.PrivPassword) < 8:
		fail("priv_password", "must be at least 8 characters (RFC 3414)")
	case !needPriv && (s.PrivProtocol != "" || s.PrivPassword != ""):
		fail("priv_protocol", "is set but security_level is %s", s.SecurityLevel)
	}
}

// Traps configures the SNMP trap/inform receiver. The appliance's Config
// holds it as `traps:`; it is off unless Listen is set.
type Traps struct {
	// Listen is the UDP address, e.g. "0.0.0.0:162" (162 needs
	// CAP_NET_BIND_SERVICE, which the service unit grants).
	Listen string `yaml:"listen"`
	// Communities accepted from v1/v2c senders; empty accepts any (traps
	// carry no secrets, and many devices cannot change theirs).
	Communities []checks.Secret `yaml:"communities"`
	// V3Users are the SNMPv3 users whose traps and informs are accepted.
	V3Users []TrapUser `yaml:"v3_users"`
}

// TrapUser is one SNMPv3 user a device sends traps as.
type TrapUser struct {
	User          string        `yaml:"user"`
	SecurityLevel string        `yaml:"security_level"`
	AuthProtocol  string        `yaml:"auth_protocol"`
	AuthPassword  checks.Secret `yaml:"auth_password"`
	PrivProtocol  string        `yaml:"priv_protocol"`
	PrivPassword  checks.Secret `yaml:"priv_password"`
}

// Validate checks the traps section; errors name the field under traps.
func (t *Traps) Validate() []error {
	var errs []error
	if t.Listen != "" {
		if _, _, err := net.SplitHostPort(t.Listen); err != nil {
			errs = append(errs, fmt.Errorf("traps.listen: %q is not host:port", t.Listen))
		}
	}
	for i := range t.V3Users {
		u := &t.V3Users[i]
		s := SNMP{Version: "3", User: u.User, SecurityLevel: u.SecurityLevel, AuthProtocol: u.AuthProtocol, AuthPassword: u.AuthPassword, PrivProtocol: u.PrivProtocol, PrivPassword: u.PrivPassword}
		s.applyDefaults()
		u.SecurityLevel = s.SecurityLevel
		s.validate(func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("traps.v3_users[%d].%s: %s", i, field, fmt.Sprintf(format, args...)))
		})
	}
	return errs
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
		if dev.SNMP != nil {
			dev.SNMP.applyDefaults()
			dev.SNMP.validate(func(field, format string, args ...any) { fail("snmp."+field, format, args...) })
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
