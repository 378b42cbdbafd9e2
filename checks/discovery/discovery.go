// Package discovery sweeps a subnet for the devices on it and says what
// each one probably is: ICMP echo, TCP connects on a short port list, the
// kernel's neighbour table for MACs, the IEEE registry for their vendors,
// reverse DNS, web page titles and certificate names, and the SNMP system
// group with the site's credentials. Every probe waits for a token of one
// rate limiter, so a sweep never sends more than Options.Rate probes a
// second. It is an adapter like checks/snmp: the store keeps what it finds
// (store.RecordSweep) and the wiring runs it (appliance/discovery.go).
package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"outpost/checks"
)

// Defaults.
const (
	DefaultRate    = 100 // probes per second
	MaxRate        = 5000
	DefaultTimeout = time.Second
	// MaxAddresses bounds a sweep (a /16).
	MaxAddresses = 65534
)

// DefaultPorts are the TCP ports probed on each live host: SSH, web,
// SMB, RDP, raw printing (JetDirect) and IPP. UDP 161 is asked by SNMP
// when credentials are given.
var DefaultPorts = []int{22, 80, 443, 445, 3389, 9100, 631}

// Options say what to sweep and how fast.
type Options struct {
	Subnet netip.Prefix
	// Rate is the ceiling in probes per second (DefaultRate when 0).
	Rate int
	// Ports are the TCP ports tried on live hosts (DefaultPorts when nil).
	Ports []int
	// SNMP are the site's credentials; nil sends no SNMP at all (no
	// community is guessed).
	SNMP *checks.SNMP
	// Timeout is how long one probe waits for an answer.
	Timeout time.Duration
	// ReverseDNS looks the live hosts' names up (the site's resolver).
	ReverseDNS bool
	// Privileged forces raw ICMP sockets (true) or ping sockets (false);
	// nil tries ping sockets and falls back to raw ones.
	Privileged *bool
	// OUI names MAC vendors (DefaultOUI when nil).
	OUI *OUI
	// Neighbours reads the neighbour table (the kernel's when nil);
	// Neighbours6 the IPv6 one.
	Neighbours  func() (map[netip.Addr]Neighbour, error)
	Neighbours6 func() (map[netip.Addr]Neighbour, error)
	// NoIPv6 skips looking for the hosts' IPv6 addresses on the
	// subnet's link (ipv6.go).
	NoIPv6 bool
	// NoMDNS skips the mDNS service enumeration (mdns.go).
	NoMDNS bool
	Log    *slog.Logger
}

// Neighbour is an entry of the kernel's neighbour (ARP) table.
type Neighbour struct {
	IP    netip.Addr
	MAC   string
	State string
	// Confirmed: the entry is permanent (configured, not learnt).
	Confirmed bool
	// ConfirmedAt is when the host last proved it is there (an ARP reply,
	// a TCP answer), for reachable entries.
	ConfirmedAt time.Time
	// Pending: the kernel is re-checking an old entry (delay, probe).
	Pending bool
}

// Host is what a sweep found at one address.
type Host struct {
	IP        netip.Addr `json:"ip"`
	MAC       string     `json:"mac,omitempty"`
	Vendor    string     `json:"vendor,omitempty"`
	Self      bool       `json:"self,omitempty"`
	ICMP      bool       `json:"icmp"`
	RTTMillis float64    `json:"rtt_ms,omitempty"`
	// ARP: found alive by the neighbour table (it answered ARP).
	ARP bool `json:"arp"`
	// IPv6 are its IPv6 addresses on the link (link-local and global),
	// found by an echo to all nodes and the NDP table.
	IPv6 []netip.Addr `json:"ipv6,omitempty"`
	// LLDP is what switches' LLDP tables say of it.
	LLDP []LLDPSeen `json:"lldp,omitempty"`
	// MDNS is its answer to the mDNS service enumeration.
	MDNS       *MDNSAnswer `json:"mdns,omitempty"`
	Names      []string    `json:"names,omitempty"`
	OpenPorts  []int       `json:"open_ports"`
	Web        []Web       `json:"web,omitempty"`
	SNMP       *System     `json:"snmp,omitempty"`
	Class      string      `json:"class"`
	Confidence float64     `json:"confidence"`
	Evidence   []string    `json:"evidence"`
}

// Web is what an open web port answered.
type Web struct {
	Port      int      `json:"port"`
	Scheme    string   `json:"scheme"`
	Status    int      `json:"status,omitempty"`
	Title     string   `json:"title,omitempty"`
	Server    string   `json:"server,omitempty"`
	CertNames []string `json:"cert_names,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// System is what a host's SNMP agent said.
type System struct {
	Descr    string `json:"descr"`
	ObjectID string `json:"object_id"`
	Name     string `json:"name"`
	// Enterprise is sysObjectID's enterprise number (-1 if none).
	Enterprise int `json:"enterprise"`
	// MIBs the agent has objects of: printer, ups, apc_ups, apc_pdu,
	// bridge, host_resources, storage.
	MIBs []string `json:"mibs"`
	// Model, Serial and Firmware are the first ENTITY-MIB row's
	// entPhysicalModelName, SerialNum and FirmwareRev (SoftwareRev when
	// that is empty); empty when the agent has no ENTITY-MIB.
	// Neighbours is its LLDP remote table (switches and routers).
	Neighbours []LLDPNeighbour `json:"lldp_neighbours,omitempty"`
	Model      string          `json:"model,omitempty"`
	Serial     string          `json:"serial,omitempty"`
	Firmware   string          `json:"firmware,omitempty"`
	software   string
	// Interfaces is ifNumber; BridgePorts dot1dBaseNumPorts.
	Interfaces  int  `json:"interfaces"`
	BridgePorts int  `json:"bridge_ports"`
	Forwarding  bool `json:"forwarding"`
}

// Has says whether the agent has objects of mib.
func (s *System) Has(mib string) bool { return s != nil && slices.Contains(s.MIBs, mib) }

// Result is one sweep.
type Result struct {
	Subnet    netip.Prefix  `json:"subnet"`
	Started   time.Time     `json:"started"`
	Took      time.Duration `json:"took_ns"`
	Rate      int           `json:"rate"`
	Addresses int           `json:"addresses"`
	Probes    int64         `json:"probes"`
	Hosts     []Host        `json:"hosts"`
	// Notes are what did not work (no ICMP socket, no neighbour table).
	Notes []string `json:"notes,omitempty"`
}

// WithDefaults fills the zero fields and checks the rest.
func (o Options) WithDefaults() (Options, error) {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Rate < 1 || o.Rate > MaxRate {
		return o, fmt.Errorf("rate %d is out of range (1 to %d probes/s)", o.Rate, MaxRate)
	}
	if o.Ports == nil {
		o.Ports = DefaultPorts
	}
	for _, p := range o.Ports {
		if p < 1 || p > 65535 {
			return o, fmt.Errorf("port %d is out of range (1 to 65535)", p)
		}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if !o.Subnet.IsValid() {
		return o, errors.New("no subnet")
	}
	if !o.Subnet.Addr().Is4() {
		return o, fmt.Errorf("%s: only IPv4 subnets are swept (an IPv6 /64 cannot be)", o.Subnet)
	}
	if n := Addresses(o.Subnet); n > MaxAddresses {
		return o, fmt.Errorf("%s has %d addresses, more than a sweep takes (%d, a /16)", o.Subnet, n, MaxAddresses)
	}
	if o.OUI == nil {
		o.OUI = DefaultOUI()
	}
	if o.Neighbours == nil {
		o.Neighbours = readNeighbours
	}
	if o.Neighbours6 == nil {
		o.Neighbours6 = readNeighbours6
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.SNMP != nil {
		s := *o.SNMP
		s.ApplyDefaults()
		if s.Timeout > o.Timeout {
			s.Timeout = o.Timeout
		}
		o.SNMP = &s
	}
	return o, nil
}

// Addresses is how many host addresses p has (without the network and
// broadcast addresses of subnets larger than a /31).
func Addresses(p netip.Prefix) int {
	p = p.Masked()
	bits := p.Addr().BitLen() - p.Bits()
	if bits >= 31 {
		return 1 << 31
	}
	n := 1 << bits
	if bits >= 2 {
		n -= 2
	}
	return n
}

// hostAddrs lists p's host addresses.
func hostAddrs(p netip.Prefix) []netip.Addr {
	p = p.Masked()
	n := 1 << (32 - p.Bits())
	out := make([]netip.Addr, 0, n)
	a := p.Addr()
	for i := 0; i < n; i++ {
		out = append(out, a)
		a = a.Next()
	}
	if n >= 4 {
		out = out[1 : n-1]
	}
	return out
}

// ProbesPerHost is how many probes a live host costs after the first
// sweep: one TCP connect per port, two SNMP requests, a web request per
// open web port (counted here as up to two).
func (o Options) ProbesPerHost() int {
	n := len(o.Ports)
	if o.SNMP != nil {
		n += 2
	}
	for _, p := range o.Ports {
		if isWebPort(p) {
			n++
		}
	}
	return n
}

// Estimate is how long a sweep takes at the rate with live hosts.
func (o Options) Estimate(live int) time.Duration {
	probes := Addresses(o.Subnet) + live*o.ProbesPerHost()
	return time.Duration(probes)*time.Second/time.Duration(max(o.Rate, 1)) + o.Timeout
}

// limiter hands out one token every 1/rate, without bursts: the sweep's
// packet-rate ceiling.
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
	count int64
}

func newLimiter(rate int) *limiter { return &limiter{every: time.Second / time.Duration(rate)} }

// wait blocks until the next token or ctx's end.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.every)
	l.count++
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// Sweep sweeps o.Subnet: every address gets one ICMP echo; a host is live
// when it answers or when the kernel's neighbour table confirms its MAC
// (it answered ARP: hosts that drop ICMP on the same LAN); live hosts then
// get the TCP, SNMP, web and DNS probes and are classified. A host that
// is down is absent from the result, not an error; errors are bad options
// or a cancelled ctx.
func Sweep(ctx context.Context, o Options) (*Result, error) {
	o, err := o.WithDefaults()
	if err != nil {
		return nil, err
	}
	res := &Result{Subnet: o.Subnet.Masked(), Started: time.Now(), Rate: o.Rate}
	lim := newLimiter(o.Rate)
	addrs := hostAddrs(o.Subnet)
	res.Addresses = len(addrs)
	self := localAddrs()

	// IPv6 addresses on the link, looked for while the IPv4 echoes run
	// (its echo's wait for replies overlaps theirs).
	type found6 struct {
		byMAC map[string][]netip.Addr
		notes []string
	}
	type foundMDNS struct {
		answers map[netip.Addr]*MDNSAnswer
		err     error
	}
	mdns := make(chan foundMDNS, 1)
	if !o.NoMDNS {
		go func() {
			a, err := mdnsQuery(ctx, o, lim, o.Subnet)
			mdns <- foundMDNS{a, err}
		}()
	} else {
		mdns <- foundMDNS{}
	}
	v6 := make(chan found6, 1)
	if !o.NoIPv6 {
		go func() {
			m, notes := sweep6(ctx, o, lim, o.Subnet)
			v6 <- found6{m, notes}
		}()
	} else {
		v6 <- found6{}
	}

	// Phase 1: liveness.
	echo := make([]pingReply, len(addrs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 512) // sockets open at once
	pm := &pingMode{forced: o.Privileged}
	for i, a := range addrs {
		if err := lim.wait(ctx); err != nil {
			wg.Wait()
			return nil, err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			echo[i] = pm.ping(ctx, a, o.Timeout)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pm.failed.Load() {
		res.Notes = append(res.Notes, "ICMP: "+pm.why())
	}
	neigh, err := o.Neighbours()
	if err != nil {
		res.Notes = append(res.Notes, err.Error())
	}
	// Old entries the kernel is re-checking (a host that left, or one
	// that drops ICMP) settle within about 8 s: wait for them.
	neigh = settle(ctx, o, addrs, echo, neigh)

	// A host is live when it answered the echo, or when the kernel heard
	// from it since the sweep began (it answered ARP: hosts that drop ICMP
	// on the same LAN). A reachable entry confirmed before the sweep may
	// be a host that just left: it gets TCP connects, and any answer (even
	// a refusal) proves it is there.
	since := res.Started.Add(-10 * time.Millisecond)
	var live []*Host
	var unsure []*Host
	for i, a := range addrs {
		n, inTable := neigh[a]
		h := &Host{IP: a, ICMP: echo[i].ok, RTTMillis: echo[i].rtt, Self: self[a]}
		if inTable && (n.Confirmed || n.ConfirmedAt.After(since)) {
			h.ARP = true
		}
		if inTable {
			h.MAC = n.MAC
			h.Vendor = o.OUI.Vendor(n.MAC)
		}
		switch {
		case h.ICMP || h.ARP || h.Self:
			live = append(live, h)
		case inTable && !n.ConfirmedAt.IsZero():
			unsure = append(unsure, h)
		}
	}
	for _, h := range unsure {
		if answersTCP(ctx, o, lim, h.IP) {
			h.ARP = true
			live = append(live, h)
		}
	}
	if len(live) > 0 && len(unsure) > 0 {
		sort.Slice(live, func(i, j int) bool { return live[i].IP.Less(live[j].IP) })
	}

	// mDNS answers of the live hosts.
	fm := <-mdns
	if fm.err != nil {
		res.Notes = append(res.Notes, "mDNS: "+fm.err.Error())
	}
	for _, h := range live {
		h.MDNS = fm.answers[h.IP]
	}

	// IPv6 addresses of the live hosts, by MAC.
	f6 := <-v6
	res.Notes = append(res.Notes, f6.notes...)
	for _, h := range live {
		if h.MAC != "" {
			h.IPv6 = f6.byMAC[h.MAC]
		}
	}

	// Phase 2: what each live host is.
	hsem := make(chan struct{}, 32)
	for _, h := range live {
		hsem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-hsem }()
			identify(ctx, o, lim, h)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lldpHints(live)
	for _, h := range live {
		classify(h)
	}
	for _, h := range live {
		res.Hosts = append(res.Hosts, *h)
	}
	sort.Slice(res.Hosts, func(i, j int) bool { return res.Hosts[i].IP.Less(res.Hosts[j].IP) })
	res.Probes = lim.count
	res.Took = time.Since(res.Started)
	return res, nil
}

// settle re-reads the neighbour table while entries of addresses that did
// not answer ICMP are being re-checked, for at most 10 s.
func settle(ctx context.Context, o Options, addrs []netip.Addr, echo []pingReply, neigh map[netip.Addr]Neighbour) map[netip.Addr]Neighbour {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pending := false
		for i, a := range addrs {
			if n, ok := neigh[a]; ok && n.Pending && !echo[i].ok {
				pending = true
				break
			}
		}
		if !pending {
			return neigh
		}
		select {
		case <-ctx.Done():
			return neigh
		case <-time.After(500 * time.Millisecond):
		}
		if n, err := o.Neighbours(); err == nil {
			neigh = n
		}
	}
	return neigh
}
