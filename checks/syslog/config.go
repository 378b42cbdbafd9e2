// Package syslog is the box's syslog receiver: UDP, TCP and TLS (RFC
// 5426, 6587, 5425), RFC 3164 and RFC 5424 lines (parsed with
// leodido/go-syslog), octet-counted or newline framing. Lines from the
// site's devices become checks.Events, which the store keeps per device
// and log_match rules read (docs/logs.md). It owns the `syslog:` config
// section.
package syslog

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"outpost/checks"
)

// Defaults of the `syslog:` section.
const (
	DefaultRatePerSource  = 100
	DefaultRateTotal      = 1000
	DefaultMaxConnections = 64
	DefaultIdleTimeout    = 15 * time.Minute
)

// Config is the `syslog:` section. The receiver is off until one of UDP,
// TCP or TLS is set.
type Config struct {
	// UDP, TCP and TLS are the addresses to listen on, e.g. "0.0.0.0:514"
	// (RFC 5426, 6587) and "0.0.0.0:6514" (RFC 5425, the box's
	// certificate). Ports below 1024 need CAP_NET_BIND_SERVICE, which the
	// service unit grants. Changing them takes a restart.
	UDP string `yaml:"udp"`
	TCP string `yaml:"tcp"`
	TLS string `yaml:"tls"`
	// Sources are addresses or subnets whose lines are kept besides the
	// devices' (named by the sender's address).
	Sources []string `yaml:"sources"`
	// AcceptUnknownSources keeps lines from any address (named by it).
	AcceptUnknownSources bool      `yaml:"accept_unknown_sources"`
	RateLimit            RateLimit `yaml:"rate_limit"`
	// MaxConnections bounds TCP and TLS connections held at once.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a connection silent for that long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	Retention   Retention     `yaml:"retention"`
	// Journal, when set, follows the box's own systemd journal
	// (journal.go); nil: off.
	Journal *JournalConfig `yaml:"journal"`
}

// RateLimit is lines per second kept, per sender address and in all;
// each bucket holds 5 seconds of its rate.
type RateLimit struct {
	PerSource float64 `yaml:"per_source"`
	Total     float64 `yaml:"total"`
}

// Retention bounds the lines the store keeps (store.LogBounds).
type Retention struct {
	MaxAge    time.Duration `yaml:"max_age"`
	PerDevice checks.Bytes  `yaml:"per_device"`
	Total     checks.Bytes  `yaml:"total"`
	Devices   int           `yaml:"devices"`
}

// Retention defaults (the store's, repeated for validation messages).
const (
	defaultMaxAge    = 30 * 24 * time.Hour
	defaultPerDevice = 16 << 20
	defaultTotal     = 256 << 20
	defaultDevices   = 1000
)

// Section is the registered `syslog:` section.
var Section = checks.RegisterSection("syslog", check)

// ConfigOf is the `syslog:` section of a parsed config (defaults when it
// has none).
func ConfigOf(s checks.Sections) *Config { return Section.Of(s) }

// Enabled reports whether any listener is configured.
func (c *Config) Enabled() bool { return c.UDP != "" || c.TCP != "" || c.TLS != "" }

func check(c *Config, _ checks.Site) error {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &checks.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, l := range []struct{ field, v string }{{"udp", c.UDP}, {"tcp", c.TCP}, {"tls", c.TLS}} {
		if l.v == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.v); err != nil || port == "" {
			fail(l.field, "%q is not host:port (e.g. 0.0.0.0:514)", l.v)
		}
	}
	if c.TCP != "" && c.TCP == c.TLS {
		fail("tls", "%q is also syslog.tcp: TLS needs a port of its own (6514 by convention)", c.TLS)
	}
	for i, s := range c.Sources {
		if _, err := ParseSource(s); err != nil {
			fail(fmt.Sprintf("sources[%d]", i), "%v", err)
		}
	}
	for _, r := range []struct {
		field string
		v     *float64
		def   float64
	}{{"rate_limit.per_source", &c.RateLimit.PerSource, DefaultRatePerSource}, {"rate_limit.total", &c.RateLimit.Total, DefaultRateTotal}} {
		switch {
		case *r.v == 0:
			*r.v = r.def
		case *r.v < 0.01 || *r.v > 1_000_000:
			fail(r.field, "%g lines/s is not 0.01 to 1000000 (default %g)", *r.v, r.def)
		}
	}
	switch {
	case c.MaxConnections == 0:
		c.MaxConnections = DefaultMaxConnections
	case c.MaxConnections < 1 || c.MaxConnections > 4096:
		fail("max_connections", "%d is not 1 to 4096 (default %d)", c.MaxConnections, DefaultMaxConnections)
	}
	switch {
	case c.IdleTimeout == 0:
		c.IdleTimeout = DefaultIdleTimeout
	case c.IdleTimeout < time.Second || c.IdleTimeout > 7*24*time.Hour:
		fail("idle_timeout", "%s is not 1s to 7d (default 15m)", c.IdleTimeout)
	}
	rt := &c.Retention
	if rt.MaxAge == 0 {
		rt.MaxAge = defaultMaxAge
	}
	if rt.MaxAge < time.Hour || rt.MaxAge > 400*24*time.Hour {
		fail("retention.max_age", "%s is not 1h to 400d (default 30d)", rt.MaxAge)
	}
	if rt.PerDevice == 0 {
		rt.PerDevice = defaultPerDevice
	}
	if rt.Total == 0 {
		rt.Total = max(defaultTotal, rt.PerDevice)
	}
	if rt.PerDevice < 64<<10 {
		fail("retention.per_device", "%s is less than 64KiB (default 16MiB)", rt.PerDevice)
	}
	if rt.Total < rt.PerDevice {
		fail("retention.total", "%s is less than retention.per_device (%s)", rt.Total, rt.PerDevice)
	}
	if rt.Total > 64<<30 {
		fail("retention.total", "%s is more than 64GiB (default 256MiB)", rt.Total)
	}
	switch {
	case rt.Devices == 0:
		rt.Devices = defaultDevices
	case rt.Devices < 1 || rt.Devices > 100_000:
		fail("retention.devices", "%d is not 1 to 100000 (default %d)", rt.Devices, defaultDevices)
	}
	if c.Journal != nil {
		errs = append(errs, checkJournal(c.Journal))
	}
	return errors.Join(errs...)
}

// ParseSource reads a syslog source: an IP address or a subnet in CIDR
// notation.
func ParseSource(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	if strings.Contains(t, "/") {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or a subnet (e.g. 192.0.2.7 or 192.0.2.0/24)", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a subnet (e.g. 192.0.2.7 or 192.0.2.0/24)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// PolicyFor is the receiver's policy from the section and the site's
// devices (a validated config: bad sources are left out).
func PolicyFor(c *Config, devices []checks.Device) Policy {
	p := Policy{AcceptUnknownSources: c.AcceptUnknownSources, PerSource: c.RateLimit.PerSource, Total: c.RateLimit.Total,
		MaxConnections: c.MaxConnections, IdleTimeout: c.IdleTimeout}
	for _, s := range c.Sources {
		if pf, err := ParseSource(s); err == nil {
			p.Sources = append(p.Sources, pf)
		}
	}
	for _, d := range devices {
		p.Devices = append(p.Devices, Device{Name: d.Name, Address: d.Address})
	}
	return p
}

// Warnings say what of the policy means every line is dropped.
func (p Policy) Warnings() []string {
	if len(p.Devices) == 0 && len(p.Sources) == 0 && !p.AcceptUnknownSources {
		return []string{"no devices or sources are configured, so every line is dropped as from an unknown source (add devices, syslog.sources, or set syslog.accept_unknown_sources)"}
	}
	return nil
}
