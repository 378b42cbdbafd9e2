package checks

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The site vocabulary: the devices, SNMP credentials and agents that the
// config declares once and that check kinds, remediations and the trap
// receiver refer to by name. Each type carries its own defaults and
// validation, so every package that reads one sees the same rules.

// Env is the site a kind or a remediation is built in: the configured
// devices and agents, found by name. The config package implements it.
type Env interface {
	// Device returns the configured device with that name, or nil.
	Device(name string) *Device
	// Agent returns the configured agent with that name, or nil.
	Agent(name string) *Agent
}

// Device is a thing on the site network that checks refer to by name:
// its address, class, the parent it sits behind, and its credentials.
type Device struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// Class is one of DeviceClasses.
	Class string `yaml:"class"`
	// Parent is the device this one is reached through (dependencies).
	Parent string `yaml:"parent"`
	Group  string `yaml:"group"`
	// SNMP holds the device's SNMP credentials, if it speaks SNMP.
	SNMP *SNMP `yaml:"snmp"`
}

// DeviceClasses lists the values Device.Class accepts.
var DeviceClasses = []string{"server", "workstation", "printer", "switch", "router", "ups", "access_point", "firewall", "pdu", "other"}

// ValidateDevices applies the devices' SNMP defaults and checks them: names
// unique, classes known, addresses a host or IP without a port, SNMP
// access complete, parents configured. fail is told each problem with the
// device's index and its field under it.
func ValidateDevices(ds []Device, fail func(i int, field, format string, args ...any)) {
	seen := map[string]bool{}
	for i := range ds {
		d := &ds[i]
		f := func(field, format string, args ...any) { fail(i, field, format, args...) }
		switch {
		case d.Name == "":
			f("name", "is required")
		case seen[d.Name]:
			f("name", "%q is used twice", d.Name)
		}
		seen[d.Name] = true
		if d.Class != "" && !slices.Contains(DeviceClasses, d.Class) {
			f("class", "%q is not a device class (one of %s)", d.Class, strings.Join(DeviceClasses, ", "))
		}
		if d.Address != "" {
			if msg := deviceAddressProblem(d.Address); msg != "" {
				f("address", "%s", msg)
			}
		}
		if d.SNMP != nil {
			d.SNMP.ApplyDefaults()
			d.SNMP.Validate(func(field, format string, args ...any) { f("snmp."+field, format, args...) })
		}
	}
	for i := range ds {
		if p := ds[i].Parent; p != "" && !seen[p] {
			fail(i, "parent", "%q is not a configured device", p)
		}
	}
}

// hostLabelRE is one label of a host name: letters, digits, '-' inside,
// and '_' (Windows names use it).
var hostLabelRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)

// deviceAddressProblem says what is wrong with a device's address, or ""
// if it is a host name or an IP. A device's address carries no port: the
// SNMP kinds, snmp_set and the trap receiver join it with snmp.port, and
// the other kinds take host:port or a URL in their own target, so a port
// here would only fail later as a confusing lookup of "host:port:161".
func deviceAddressProblem(addr string) string {
	const alone = "a device's address is a host name or IP alone"
	if strings.ContainsFunc(addr, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		return fmt.Sprintf("%q has spaces: %s (e.g. 192.0.2.10 or printer.lan)", addr, alone)
	}
	if i := strings.Index(addr, "://"); i >= 0 {
		host := addr[i+3:]
		if j := strings.IndexAny(host, "/?#"); j >= 0 {
			host = host[:j]
		}
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			host = "192.0.2.10"
		}
		return fmt.Sprintf("%q is a URL: %s (e.g. %s); a URL belongs in an http check's target", addr, alone, host)
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if host == "" {
			host = "192.0.2.10"
		}
		return fmt.Sprintf("%q has a port: %s (e.g. %s); the SNMP port is snmp.port (default %d), other ports belong in each check's target (e.g. tcp %s)",
			addr, alone, host, DefaultSNMPPort, net.JoinHostPort(host, "22"))
	}
	if strings.HasPrefix(addr, "[") || strings.HasSuffix(addr, "]") {
		bare := strings.Trim(addr, "[]")
		return fmt.Sprintf("%q has brackets: write an IPv6 address bare (e.g. %s), without a port", addr, bare)
	}
	if _, err := netip.ParseAddr(addr); err == nil {
		return ""
	}
	name := strings.TrimSuffix(addr, ".")
	ok := len(name) <= 253
	for _, l := range strings.Split(name, ".") {
		ok = ok && hostLabelRE.MatchString(l)
	}
	if !ok {
		return fmt.Sprintf("%q is not a host name or IP (letters, digits, '-' and '.', e.g. 192.0.2.10 or printer.lan)", addr)
	}
	return ""
}

// SNMP is how to reach a device over SNMP v1, v2c or v3: the device's
// `snmp:` section, a trap sender's v3 user, `outpost snmp probe`'s flags.
type SNMP struct {
	// Version is "1", "2c" (default) or "3".
	Version   string `yaml:"version"`
	Port      int    `yaml:"port"`
	Community Secret `yaml:"community"`
	// SNMPv3.
	User          string `yaml:"user"`
	SecurityLevel string `yaml:"security_level"`
	AuthProtocol  string `yaml:"auth_protocol"`
	AuthPassword  Secret `yaml:"auth_password"`
	PrivProtocol  string `yaml:"priv_protocol"`
	PrivPassword  Secret `yaml:"priv_password"`
	Context       string `yaml:"context"`
	// Transport tuning.
	Timeout        time.Duration `yaml:"timeout"`
	Retries        int           `yaml:"retries"`
	MaxRepetitions int           `yaml:"max_repetitions"`
	MaxConcurrency int           `yaml:"max_concurrency"`
}

// SNMP defaults, applied by ApplyDefaults where a field is left out.
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

// ApplyDefaults fills the fields left at zero: version 2c, port 161,
// timeout 2s, 1 retry, 25 repetitions, 2 sessions at once, and for v3 the
// security level the protocols given imply.
func (s *SNMP) ApplyDefaults() {
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

// Validate reports every problem with s (defaults applied) to fail, with
// the field's YAML name.
func (s *SNMP) Validate(fail func(field, format string, args ...any)) {
	if !slices.Contains(SNMPVersions, s.Version) {
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
	if !slices.Contains(SNMPSecurityLevels, s.SecurityLevel) {
		fail("security_level", "%q is not a security level (one of %s)", s.SecurityLevel, strings.Join(SNMPSecurityLevels, ", "))
		return
	}
	needAuth := s.SecurityLevel != "noAuthNoPriv"
	needPriv := s.SecurityLevel == "authPriv"
	switch {
	case needAuth && !slices.Contains(SNMPAuthProtocols, s.AuthProtocol):
		fail("auth_protocol", "%q is not an auth protocol (one of %s)", s.AuthProtocol, strings.Join(SNMPAuthProtocols, ", "))
	case needAuth && len(s.AuthPassword) < 8:
		fail("auth_password", "must be at least 8 characters (RFC 3414)")
	case !needAuth && (s.AuthProtocol != "" || s.AuthPassword != ""):
		fail("auth_protocol", "is set but security_level is %s", s.SecurityLevel)
	}
	switch {
	case needPriv && !slices.Contains(SNMPPrivProtocols, s.PrivProtocol):
		fail("priv_protocol", "%q is not a privacy protocol (one of %s)", s.PrivProtocol, strings.Join(SNMPPrivProtocols, ", "))
	case needPriv && len(s.PrivPassword) < 8:
		fail("priv_password", "must be at least 8 characters (RFC 3414)")
	case !needPriv && (s.PrivProtocol != "" || s.PrivPassword != ""):
		fail("priv_protocol", "is set but security_level is %s", s.SecurityLevel)
	}
}

// Err is Validate's first problem as an error ("field message"), or nil.
func (s *SNMP) Err() error {
	var err error
	s.Validate(func(field, format string, args ...any) {
		if err == nil {
			err = fmt.Errorf("%s %s", field, fmt.Sprintf(format, args...))
		}
	})
	return err
}

// Traps configures the SNMP trap/inform receiver (`traps:`); it is off
// unless Listen is set. Anyone on the LAN can send a trap with any source
// address, so by default only configured devices' traps with a configured
// community are kept, at a bounded rate (docs/snmp.md, docs/security.md).
type Traps struct {
	// Listen is the UDP address, e.g. "0.0.0.0:162" (162 needs
	// CAP_NET_BIND_SERVICE, which the service unit grants). Changing it
	// takes a restart.
	Listen string `yaml:"listen"`
	// Communities accepted from v1/v2c senders, besides each device's own
	// snmp.community for traps from that device.
	Communities []Secret `yaml:"communities"`
	// V3Users are the SNMPv3 users whose traps and informs are accepted.
	V3Users []TrapUser `yaml:"v3_users"`
	// AcceptUnknownSources keeps traps from addresses that are no
	// configured device (the event is named by the address). Default:
	// dropped and counted.
	AcceptUnknownSources bool `yaml:"accept_unknown_sources"`
	// AcceptAnyCommunity keeps v1/v2c traps whatever their community (the
	// behaviour before it was an option). Default: dropped and counted.
	AcceptAnyCommunity bool `yaml:"accept_any_community"`
	// RateLimit bounds the traps kept per second.
	RateLimit TrapRateLimit `yaml:"rate_limit"`
}

// TrapRateLimit is a token bucket per sender address and one for all
// senders; each bucket holds TrapBurstSeconds of its rate. Traps over it
// are dropped and counted.
type TrapRateLimit struct {
	// PerSource is traps per second from one address (default 20).
	PerSource float64 `yaml:"per_source"`
	// Total is traps per second from all senders together (default 200).
	Total float64 `yaml:"total"`
}

// Trap rate defaults: 20 traps/s per sender in bursts of 100, 200/s in all
// in bursts of 1,000.
const (
	DefaultTrapRatePerSource = 20
	DefaultTrapRateTotal     = 200
	TrapBurstSeconds         = 5
)

// TrapUser is one SNMPv3 user a device sends traps as.
type TrapUser struct {
	User          string `yaml:"user"`
	SecurityLevel string `yaml:"security_level"`
	AuthProtocol  string `yaml:"auth_protocol"`
	AuthPassword  Secret `yaml:"auth_password"`
	PrivProtocol  string `yaml:"priv_protocol"`
	PrivPassword  Secret `yaml:"priv_password"`
}

// SNMP is the user as SNMP access, defaults applied.
func (u TrapUser) SNMP() SNMP {
	s := SNMP{Version: "3", User: u.User, SecurityLevel: u.SecurityLevel, AuthProtocol: u.AuthProtocol, AuthPassword: u.AuthPassword, PrivProtocol: u.PrivProtocol, PrivPassword: u.PrivPassword}
	s.ApplyDefaults()
	return s
}

// Validate applies the users' and the rate limit's defaults and checks
// the section; errors name the field under traps.
func (t *Traps) Validate() []error {
	var errs []error
	if t.Listen != "" {
		if _, _, err := net.SplitHostPort(t.Listen); err != nil {
			errs = append(errs, fmt.Errorf("traps.listen: %q is not host:port", t.Listen))
		}
	}
	for _, r := range []struct {
		field string
		v     *float64
		def   float64
	}{{"per_source", &t.RateLimit.PerSource, DefaultTrapRatePerSource}, {"total", &t.RateLimit.Total, DefaultTrapRateTotal}} {
		switch {
		case *r.v == 0:
			*r.v = r.def
		case *r.v < 0.01 || *r.v > 100_000:
			errs = append(errs, fmt.Errorf("traps.rate_limit.%s: %g traps/s is not 0.01 to 100000 (default %g)", r.field, *r.v, r.def))
		}
	}
	for i := range t.V3Users {
		u := &t.V3Users[i]
		s := u.SNMP()
		u.SecurityLevel = s.SecurityLevel
		s.Validate(func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("traps.v3_users[%d].%s: %s", i, field, fmt.Sprintf(format, args...)))
		})
	}
	return errs
}

// Agent is one Outpost agent the box polls (under `agents:`): a server
// running `outpost agent run`, and what the box may ask it to do.
type Agent struct {
	// Name is how checks (target:) and `outpost agent pair-code` refer
	// to it.
	Name string `yaml:"name"`
	// Address is host:port where the agent listens; empty means the
	// address it paired from, with the port it reported.
	Address string `yaml:"address"`
	// Device is the configured device the agent runs on; healing's
	// agent_restart names agents by device. Default: the agent's name.
	Device string `yaml:"device"`
	// Services are the Windows services or systemd units the box may
	// restart, start or stop there.
	Services []string `yaml:"services"`
	// Scripts are the programs the box may run there, by name.
	Scripts []AgentScript `yaml:"scripts"`
}

// AgentScript is an allow-listed program on an agent, run without a shell.
type AgentScript struct {
	Name    string   `yaml:"name"`
	Command string   `yaml:"command"`
	Args    []string `yaml:"args"`
}

var (
	agentNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	agentServiceRE = regexp.MustCompile(`^[A-Za-z0-9_.@:$ -]{1,256}$`)
)

// ValidateAgents checks the agents: names valid and unique, addresses
// host:port, devices configured in site, service and script names safe.
// fail is told each problem with the agent's index and its field.
func ValidateAgents(as []Agent, site Env, fail func(i int, field, format string, args ...any)) {
	seen := map[string]bool{}
	for i := range as {
		a := &as[i]
		f := func(field, format string, args ...any) { fail(i, field, format, args...) }
		switch {
		case a.Name == "":
			f("name", "is required")
		case !agentNameRE.MatchString(a.Name):
			f("name", "%q is not a valid agent name (letters, digits, '_', '-', '.')", a.Name)
		case seen[a.Name]:
			f("name", "%q is used twice", a.Name)
		}
		seen[a.Name] = true
		if a.Address != "" {
			if _, port, err := net.SplitHostPort(a.Address); err != nil || port == "" {
				f("address", "%q is not host:port (e.g. 192.0.2.10:8471)", a.Address)
			}
		}
		if a.Device != "" && (site == nil || site.Device(a.Device) == nil) {
			f("device", "%q is not a configured device", a.Device)
		}
		for j, s := range a.Services {
			if !agentServiceRE.MatchString(s) || strings.HasPrefix(s, "-") {
				f(fmt.Sprintf("services[%d]", j), "%q is not a service or unit name", s)
			}
		}
		names := map[string]bool{}
		for j, s := range a.Scripts {
			sp := fmt.Sprintf("scripts[%d]", j)
			switch {
			case s.Name == "":
				f(sp+".name", "is required")
			case names[s.Name]:
				f(sp+".name", "%q is used twice", s.Name)
			}
			names[s.Name] = true
			// A relative command would be looked up on the agent's PATH:
			// the allow-list must say exactly which program runs.
			if !filepath.IsAbs(s.Command) && !isWindowsAbs(s.Command) {
				f(sp+".command", "%q must be an absolute path on the agent's machine", s.Command)
			}
		}
	}
}

func isWindowsAbs(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z'))
}
