package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"outpost/checks"
)

// Config is the `discovery:` section. Discovery is off until a technician
// lists a subnet with enabled: true.
type Config struct {
	Subnets []SubnetConfig `yaml:"subnets"`
	// Rate is the ceiling in probes per second for every sweep.
	Rate int `yaml:"rate"`
	// Interval is how often the enabled subnets are swept.
	Interval time.Duration `yaml:"interval"`
	// Ports are the TCP ports tried on live hosts.
	Ports []int `yaml:"ports"`
	// SNMP are the credentials asked of every live host; none sends no
	// SNMP.
	SNMP *checks.SNMP `yaml:"snmp"`
	// ReverseDNS looks names up on the site's resolver (default true).
	ReverseDNS *bool `yaml:"reverse_dns"`
	// IPv6 looks for the hosts' IPv6 addresses on the subnet's link
	// (default true).
	IPv6 *bool `yaml:"ipv6"`
	// MDNS sends the mDNS service enumeration on the subnet's link
	// (default true).
	MDNS *bool `yaml:"mdns"`
}

// SubnetConfig is one subnet to sweep.
type SubnetConfig struct {
	CIDR    string `yaml:"cidr"`
	Enabled bool   `yaml:"enabled"`
	// Prefix is CIDR parsed (by the section's check).
	Prefix netip.Prefix `yaml:"-"`
}

// Defaults of the section.
const (
	DefaultInterval = 6 * time.Hour
	MinInterval     = 5 * time.Minute
)

var section = checks.RegisterSection("discovery", (*Config).check)

// ConfigOf returns the discovery section of a parsed config.
func ConfigOf(s checks.Sections) *Config { return section.Of(s) }

// Enabled are the subnets to sweep.
func (c *Config) Enabled() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.Subnets {
		if s.Enabled && s.Prefix.IsValid() {
			out = append(out, s.Prefix)
		}
	}
	return out
}

// AnyEnabled says whether a subnet is enabled (before or after the
// section's check: the config's default inventory policy asks early).
func (c *Config) AnyEnabled() bool {
	for _, s := range c.Subnets {
		if s.Enabled {
			return true
		}
	}
	return false
}

// Options are the sweep options for one enabled subnet.
func (c *Config) Options(p netip.Prefix) Options {
	return Options{Subnet: p, Rate: c.Rate, Ports: c.Ports, SNMP: c.SNMP, ReverseDNS: c.ReverseDNS == nil || *c.ReverseDNS, NoIPv6: c.IPv6 != nil && !*c.IPv6, NoMDNS: c.MDNS != nil && !*c.MDNS}
}

func (c *Config) check(checks.Site) error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &checks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Rate < 1 || c.Rate > MaxRate {
		fail("rate", "%d is out of range (1 to %d probes/s)", c.Rate, MaxRate)
	}
	if c.Interval < MinInterval || c.Interval > 7*24*time.Hour {
		fail("interval", "%s is out of range (%s to 168h)", c.Interval, MinInterval)
	}
	for i, p := range c.Ports {
		if p < 1 || p > 65535 {
			fail(fmt.Sprintf("ports[%d]", i), "%d is not a TCP port (1 to 65535)", p)
		}
	}
	seen := map[netip.Prefix]bool{}
	for i := range c.Subnets {
		s := &c.Subnets[i]
		p, err := netip.ParsePrefix(s.CIDR)
		switch {
		case err != nil:
			fail(fmt.Sprintf("subnets[%d].cidr", i), "%q is not a CIDR subnet (e.g. 192.0.2.0/24)", s.CIDR)
			continue
		case !p.Addr().Is4():
			fail(fmt.Sprintf("subnets[%d].cidr", i), "%s: only IPv4 subnets are swept", s.CIDR)
			continue
		case Addresses(p) > MaxAddresses:
			fail(fmt.Sprintf("subnets[%d].cidr", i), "%s is larger than a /16", s.CIDR)
			continue
		case seen[p.Masked()]:
			fail(fmt.Sprintf("subnets[%d].cidr", i), "%s is listed twice", s.CIDR)
		}
		s.Prefix = p.Masked()
		seen[s.Prefix] = true
	}
	if c.SNMP != nil {
		c.SNMP.ApplyDefaults()
		c.SNMP.Validate(func(field, format string, args ...any) { fail("snmp."+field, format, args...) })
	}
	return errors.Join(errs...)
}
