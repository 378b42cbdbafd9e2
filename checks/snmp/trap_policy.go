package snmp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

// Anyone on the LAN can send the trap port any packet with any source
// address (security issue item 5): the receiver keeps only traps from
// configured devices with a configured community, at a bounded rate, cut
// to bounded size, and answers v3 probes at a bounded rate, so that it is
// neither a disk filler nor a reflector. The store bounds events again
// behind it (store/events.go).

// Why a packet was dropped: the label of outpost_traps_dropped_total.
const (
	DropUnknownSource = "unknown_source" // sender is no configured device
	DropCommunity     = "community"      // v1/v2c community not accepted
	DropV3            = "v3_auth"        // unknown v3 user, bad authentication, stale or misaddressed inform
	DropMalformed     = "malformed"      // not an SNMP trap
	DropRateSource    = "rate_source"    // over the sender's rate
	DropRateTotal     = "rate_total"     // over the rate of all senders together
)

// TrapDropReasons lists every drop reason, in the order metrics show them.
var TrapDropReasons = []string{DropUnknownSource, DropCommunity, DropV3, DropMalformed, DropRateSource, DropRateTotal}

// Bounds of what one trap keeps (the store keeps 32 fields of 256 bytes;
// the receiver's own fields, such as sender and trap_oid, are at most 7).
const (
	maxTrapVarbinds = 24
	maxTrapValue    = 256
)

// Replies the receiver sends before knowing who asks (v3 discovery and
// time-window reports) are limited per address and in all, so spoofed
// probes cannot aim it at a victim. A v3 sender needs one or two per
// session. Inform responses go only to informs that passed authentication
// and the trap rate.
const (
	reportRatePerDest = 2
	reportBurstDest   = 10
	reportRateTotal   = 20
	reportBurstTotal  = 50
)

// maxTrapBuckets bounds the per-address rate state (only configured
// devices have one unless unknown sources are accepted).
const maxTrapBuckets = 4096

// resolveEvery is how often device host names are looked up again.
const resolveEvery = 10 * time.Minute

// TrapDevice is a configured device as the receiver knows it.
type TrapDevice struct {
	Name string
	// Address is an IP address or host name, with or without a port.
	Address string
	// Community is the device's v1/v2c community, accepted on traps from
	// its address; empty for none.
	Community string
}

// TrapRate is the receiver's trap rate limit: tokens per second, per
// sender address and in all; bursts of checks.TrapBurstSeconds of each.
// Zero fields take the defaults.
type TrapRate struct {
	PerSource, Total float64
}

// TrapStats counts what the receiver did with the packets it read.
type TrapStats struct {
	// Packets is every datagram read.
	Packets int64
	// Accepted packets became events; Truncated of them had variables
	// cut or left out.
	Accepted, Truncated int64
	// Dropped counts packets by reason; every TrapDropReasons key is set.
	Dropped map[string]int64
	// Reports were v3 reports sent; ReportsLimited were not sent, being
	// over the reply rate. InformResponses acknowledged informs.
	Reports, ReportsLimited, InformResponses int64
}

// trapSource is what the receiver knows of a sender address.
type trapSource struct {
	device, community string
}

// trapPolicy is one config compiled for lookups. SetConfig swaps a whole
// new one in, so every packet is judged under one config.
type trapPolicy struct {
	cfg         TrapConfig
	sources     map[netip.Addr]trapSource
	communities map[string]bool
	// named are the devices whose address is a host name, by device
	// name, with the host: resolved addresses are matched through them.
	named map[string]namedDevice
	// dec3 decodes v3 with the configured users (nil: none).
	dec3 *gosnmp.GoSNMP
	rate TrapRate
}

type namedDevice struct {
	host      string
	community string
}

// resolvedAddr is a looked-up address of a device named by host name.
type resolvedAddr struct {
	device, host string
}

func compileTrapPolicy(cfg TrapConfig) (*trapPolicy, error) {
	p := &trapPolicy{cfg: cfg, sources: map[netip.Addr]trapSource{}, communities: map[string]bool{}, named: map[string]namedDevice{}, rate: cfg.Rate}
	if p.rate.PerSource <= 0 {
		p.rate.PerSource = checks.DefaultTrapRatePerSource
	}
	if p.rate.Total <= 0 {
		p.rate.Total = checks.DefaultTrapRateTotal
	}
	for _, c := range cfg.Communities {
		p.communities[c] = true
	}
	for _, d := range cfg.Devices {
		host, _, err := SplitHostPort(d.Address)
		if err != nil || host == "" {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			p.sources[ip.Unmap().WithZone("")] = trapSource{device: d.Name, community: d.Community}
		} else {
			p.named[d.Name] = namedDevice{host: host, community: d.Community}
		}
	}
	if len(cfg.Users) > 0 {
		table := gosnmp.NewSnmpV3SecurityParametersTable(gosnmp.NewLogger(nil))
		for _, u := range cfg.Users {
			acc := u.SNMP()
			if err := acc.Err(); err != nil {
				return nil, fmt.Errorf("trap user %q: %w", u.User, err)
			}
			_, params := usm(acc)
			if err := table.Add(u.User, params); err != nil {
				return nil, fmt.Errorf("trap user %q: %w", u.User, err)
			}
		}
		p.dec3 = &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil), Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel}
		p.dec3.SetTrapSecurityParametersTable(table)
	}
	return p, nil
}

// Warnings says what of the config means that traps will be dropped
// wholesale, for the log.
func (c TrapConfig) Warnings() []string {
	var w []string
	if len(c.Devices) == 0 && !c.AcceptUnknownSources {
		w = append(w, "no devices are configured, so every trap is dropped as from an unknown source (add devices, or set traps.accept_unknown_sources)")
	}
	community := c.AcceptAnyCommunity || len(c.Communities) > 0
	for _, d := range c.Devices {
		community = community || d.Community != ""
	}
	if !community {
		w = append(w, "no v1/v2c community is accepted, so only SNMPv3 traps are kept (set traps.communities, a device's snmp.community, or traps.accept_any_community)")
	}
	return w
}

// communityOK reports whether a v1/v2c community is accepted from a
// sender (known: a configured device).
func (p *trapPolicy) communityOK(c string, src trapSource, known bool) bool {
	return p.cfg.AcceptAnyCommunity || p.communities[c] || (known && src.community != "" && src.community == c)
}

// source returns the configured device at ip, directly or through a host
// name looked up since.
func (r *TrapReceiver) source(p *trapPolicy, ip netip.Addr) (trapSource, bool) {
	if s, ok := p.sources[ip]; ok {
		return s, true
	}
	if m := r.resolved.Load(); m != nil {
		if a, ok := (*m)[ip]; ok {
			if d, ok := p.named[a.device]; ok && d.host == a.host {
				return trapSource{device: a.device, community: d.community}, true
			}
		}
	}
	return trapSource{}, false
}

// resolveLoop looks the devices' host names up now, after every config
// change and every resolveEvery, so traps from a device configured by
// name are recognised by its address.
func (r *TrapReceiver) resolveLoop(ctx context.Context) {
	t := r.clk.NewTimer(resolveEvery)
	defer t.Stop()
	for {
		r.resolveNames(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.reconfigured:
		case <-t.C():
		}
		t.Stop()
		t.Reset(resolveEvery)
	}
}

func (r *TrapReceiver) resolveNames(ctx context.Context) {
	p := r.pol.Load()
	m := map[netip.Addr]resolvedAddr{}
	for name, d := range p.named {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := r.lookup(lctx, d.host)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.logf("trap receiver: device %q: looking up %s: %v (its traps are dropped as from an unknown source until it resolves)", name, d.host, err)
			}
			continue
		}
		for _, ip := range ips {
			m[ip.Unmap().WithZone("")] = resolvedAddr{device: name, host: d.host}
		}
	}
	r.resolved.Store(&m)
}

func lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// limiter is a token bucket per address plus one for all addresses. It is
// used by the receiving goroutine only.
type limiter struct {
	rate, burst, totalRate, totalBurst float64
	total                              checks.TokenBucket
	per                                map[netip.Addr]*checks.TokenBucket
}

func newLimiter(rate, burst, totalRate, totalBurst float64, now time.Duration) *limiter {
	l := &limiter{per: map[netip.Addr]*checks.TokenBucket{}, total: checks.NewTokenBucket(totalBurst, now)}
	l.set(rate, burst, totalRate, totalBurst)
	return l
}

// set changes the rates; buckets keep their tokens (within the new burst).
func (l *limiter) set(rate, burst, totalRate, totalBurst float64) {
	l.rate, l.burst, l.totalRate, l.totalBurst = rate, burst, totalRate, totalBurst
}

// allow takes a token for ip, and one from the total; it returns "" or
// the drop reason naming the bucket that was empty.
func (l *limiter) allow(ip netip.Addr, now time.Duration) string {
	b, ok := l.per[ip]
	if !ok {
		if len(l.per) >= maxTrapBuckets {
			l.prune(now)
		}
		nb := checks.NewTokenBucket(l.burst, now)
		b = &nb
		l.per[ip] = b
	}
	if !b.Take(now, l.rate, l.burst) {
		return DropRateSource
	}
	if !l.total.Take(now, l.totalRate, l.totalBurst) {
		return DropRateTotal
	}
	return ""
}

// prune forgets addresses whose bucket has refilled (they lose nothing),
// and if that is not enough, any: the total bucket still holds.
func (l *limiter) prune(now time.Duration) {
	for ip, b := range l.per {
		if b.Level(now, l.rate, l.burst) >= l.burst {
			delete(l.per, ip)
		}
	}
	for ip := range l.per {
		if len(l.per) < maxTrapBuckets {
			break
		}
		delete(l.per, ip)
	}
}

// capValue cuts a variable's text to maxTrapValue bytes on a rune
// boundary, marking the cut with "…".
func capValue(s string) (string, bool) {
	if len(s) <= maxTrapValue {
		return s, false
	}
	n := maxTrapValue
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…", true
}

// addrOf is the IP of a sender, without port or zone, IPv4 unmapped.
func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}
