package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// Anyone on the LAN can send the syslog ports anything, from any source
// address over UDP: the receiver keeps only lines it can attribute to a
// configured device or source, at a bounded rate, cut to a bounded size,
// holds a bounded number of connections, and never stops on bad input;
// the store bounds the lines again behind it (store/events.go,
// docs/security.md).

// Why a line or a connection was dropped: the label of
// outpost_syslog_dropped_total.
const (
	DropUnknownSource = "unknown_source" // the sender is no configured device or source
	DropRateSource    = "rate_source"    // over the sender's rate
	DropRateTotal     = "rate_total"     // over the rate of all senders together
	DropEmpty         = "empty"          // a datagram with nothing in it
	DropFraming       = "framing"        // a TCP stream that is not syslog framing (the connection is closed)
	DropConnections   = "connections"    // a connection over max_connections (in all or per sender)
	DropTLS           = "tls_handshake"  // a TLS connection whose handshake failed
)

var dropReasons = [...]string{DropUnknownSource, DropRateSource, DropRateTotal, DropEmpty, DropFraming, DropConnections, DropTLS}

// DropReasons lists every drop reason, in the order metrics show them.
var DropReasons = dropReasons[:]

// Limits of the receiver's own state.
const (
	// maxBuckets bounds the per-address rate state.
	maxBuckets = 4096
	// burstSeconds: a bucket holds this many seconds of its rate.
	burstSeconds = 5
	// handshakeTimeout bounds a TLS handshake.
	handshakeTimeout = 10 * time.Second
	// resolveEvery is how often device host names are looked up again.
	resolveEvery = 10 * time.Minute
)

// Device is a configured device as the receiver knows it.
type Device struct {
	Name string
	// Address is an IP address or a host name (looked up).
	Address string
}

// Policy says whose lines are kept and how many.
type Policy struct {
	// Devices: lines from their addresses are theirs.
	Devices []Device
	// Sources are further addresses and subnets whose lines are kept,
	// named by the sender's address.
	Sources []netip.Prefix
	// AcceptUnknownSources keeps lines from any address.
	AcceptUnknownSources bool
	// PerSource and Total are lines per second kept, per sender address
	// and in all, in bursts of burstSeconds (zero: defaults).
	PerSource, Total float64
	// MaxConnections bounds TCP and TLS connections held at once, in all;
	// one sender holds at most a quarter of them (at least 2).
	MaxConnections int
	// IdleTimeout closes a connection that sent nothing for that long.
	IdleTimeout time.Duration
}

// Options configure a Receiver.
type Options struct {
	// UDP, TCP and TLS are the addresses to listen on ("" for none).
	UDP, TCP, TLS string
	// TLSConfig is the server side of TLS (the box's certificate);
	// required with TLS.
	TLSConfig *tls.Config
	Policy    Policy
	// OnEvent is told every accepted line; it must not block.
	OnEvent func(checks.Event)
	Clock   clock.Clock
	// Logf logs drops (the first ten of each reason, then every
	// thousandth) and errors (default log.Printf).
	Logf func(format string, args ...any)
	// LookupHost resolves devices configured by host name (default DNS).
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Stats count what the receiver did.
type Stats struct {
	// Datagrams and Connections were received and accepted (TCP and TLS
	// connections that passed the source check and the limits); Open
	// are held now.
	Datagrams, Connections, Open int64
	// Lines were read; Accepted became events; of them Truncated were
	// cut to MaxLine and Raw were no syslog format known (kept whole).
	Lines, Accepted, Truncated, Raw int64
	// Dropped counts lines and connections by reason; every DropReasons
	// key is set.
	Dropped map[string]int64
}

// Receiver receives syslog over UDP, TCP and TLS and turns the lines it
// keeps into checks.Events.
type Receiver struct {
	udp      net.PacketConn
	tcp, tls net.Listener
	tlsConf  *tls.Config
	onEvent  func(checks.Event)
	clk      clock.Clock
	logf     func(format string, args ...any)
	lookup   func(ctx context.Context, host string) ([]netip.Addr, error)

	pol          atomic.Pointer[policy]
	resolved     atomic.Pointer[map[netip.Addr]string]
	reconfigured chan struct{}

	limMu sync.Mutex
	lim   *limiter

	connMu  sync.Mutex
	conns   map[net.Conn]netip.Addr
	perConn map[netip.Addr]int

	datagrams, connections               atomic.Int64
	lines, accepted, truncated, rawLines atomic.Int64
	dropped                              [len(dropReasons)]atomic.Int64
}

// policy is a Policy compiled for lookups.
type policy struct {
	Policy
	byAddr map[netip.Addr]string
	named  map[string]string // device -> host name
}

func compile(p Policy) *policy {
	if p.PerSource <= 0 {
		p.PerSource = DefaultRatePerSource
	}
	if p.Total <= 0 {
		p.Total = DefaultRateTotal
	}
	if p.MaxConnections <= 0 {
		p.MaxConnections = DefaultMaxConnections
	}
	if p.IdleTimeout <= 0 {
		p.IdleTimeout = DefaultIdleTimeout
	}
	c := &policy{Policy: p, byAddr: map[netip.Addr]string{}, named: map[string]string{}}
	for _, d := range p.Devices {
		if d.Address == "" {
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(d.Address, "[]")); err == nil {
			c.byAddr[ip.Unmap().WithZone("")] = d.Name
		} else {
			c.named[d.Name] = d.Address
		}
	}
	return c
}

// perSourceConns is how many connections one sender may hold.
func (p *policy) perSourceConns() int { return max(2, p.MaxConnections/4) }

// New binds the configured listeners now, so that a busy port is
// reported at start, and turns accepted lines into events once Run runs.
func New(o Options) (*Receiver, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	if o.LookupHost == nil {
		o.LookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if o.UDP == "" && o.TCP == "" && o.TLS == "" {
		return nil, errors.New("syslog receiver: no address to listen on (syslog.udp, syslog.tcp, syslog.tls)")
	}
	if o.TLS != "" && (o.TLSConfig == nil || len(o.TLSConfig.Certificates) == 0) {
		return nil, errors.New("syslog receiver: TLS needs a certificate")
	}
	r := &Receiver{tlsConf: o.TLSConfig, onEvent: o.OnEvent, clk: o.Clock, logf: o.Logf, lookup: o.LookupHost,
		reconfigured: make(chan struct{}, 1), conns: map[net.Conn]netip.Addr{}, perConn: map[netip.Addr]int{}}
	pol := compile(o.Policy)
	r.pol.Store(pol)
	r.lim = newLimiter(pol.PerSource, pol.Total, o.Clock.Mono())
	fail := func(what string, err error) (*Receiver, error) {
		r.closeListeners()
		return nil, fmt.Errorf("syslog receiver (%s): %w", what, err)
	}
	var err error
	if o.UDP != "" {
		if r.udp, err = net.ListenPacket("udp", o.UDP); err != nil {
			return fail("udp "+o.UDP, err)
		}
		if uc, ok := r.udp.(*net.UDPConn); ok {
			// A device that reboots sends its boot log at once; the
			// kernel caps this at its rmem_max.
			uc.SetReadBuffer(4 << 20)
		}
	}
	if o.TCP != "" {
		if r.tcp, err = net.Listen("tcp", o.TCP); err != nil {
			return fail("tcp "+o.TCP, err)
		}
	}
	if o.TLS != "" {
		if r.tls, err = net.Listen("tcp", o.TLS); err != nil {
			return fail("tls "+o.TLS, err)
		}
	}
	return r, nil
}

func (r *Receiver) closeListeners() {
	if r.udp != nil {
		r.udp.Close()
	}
	if r.tcp != nil {
		r.tcp.Close()
	}
	if r.tls != nil {
		r.tls.Close()
	}
}

// Addrs are the bound addresses (nil where not listening): useful with
// port 0.
func (r *Receiver) Addrs() (udp, tcp, tls net.Addr) {
	if r.udp != nil {
		udp = r.udp.LocalAddr()
	}
	if r.tcp != nil {
		tcp = r.tcp.Addr()
	}
	if r.tls != nil {
		tls = r.tls.Addr()
	}
	return
}

// SetPolicy applies a new policy to a running receiver: devices,
// sources, rates and connection limits. Connections already held are
// judged by the new policy from their next line on.
func (r *Receiver) SetPolicy(p Policy) {
	pol := compile(p)
	r.pol.Store(pol)
	r.limMu.Lock()
	r.lim.set(pol.PerSource, pol.Total)
	r.limMu.Unlock()
	select {
	case r.reconfigured <- struct{}{}:
	default:
	}
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() Stats {
	s := Stats{Datagrams: r.datagrams.Load(), Connections: r.connections.Load(), Lines: r.lines.Load(), Accepted: r.accepted.Load(),
		Truncated: r.truncated.Load(), Raw: r.rawLines.Load(), Dropped: map[string]int64{}}
	r.connMu.Lock()
	s.Open = int64(len(r.conns))
	r.connMu.Unlock()
	for i, reason := range DropReasons {
		s.Dropped[reason] = r.dropped[i].Load()
	}
	return s
}

func (r *Receiver) drop(reason string, from netip.Addr, why string) {
	for i, x := range DropReasons {
		if x != reason {
			continue
		}
		if n := r.dropped[i].Add(1); n <= 10 || n%1000 == 0 {
			r.logf("syslog receiver: dropped %d for %s from %s: %s", n, reason, from, why)
		}
	}
}

// Run receives until ctx ends, then closes the listeners and every
// connection and returns once all have stopped.
func (r *Receiver) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.resolveLoop(ctx) }()
	if r.udp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.readUDP(ctx) }()
	}
	if r.tcp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.accept(ctx, r.tcp, "tcp", &wg) }()
	}
	if r.tls != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.accept(ctx, r.tls, "tls", &wg) }()
	}
	<-ctx.Done()
	r.closeListeners()
	r.connMu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.connMu.Unlock()
	wg.Wait()
	return nil
}

// source is the device name lines from ip are kept under, or false when
// they are not kept.
func (r *Receiver) source(p *policy, ip netip.Addr) (string, bool) {
	if name, ok := p.byAddr[ip]; ok {
		return name, true
	}
	if m := r.resolved.Load(); m != nil {
		if name, ok := (*m)[ip]; ok {
			if _, still := p.named[name]; still {
				return name, true
			}
		}
	}
	for _, pf := range p.Sources {
		if pf.Contains(ip) {
			return ip.String(), true
		}
	}
	if p.AcceptUnknownSources {
		return ip.String(), true
	}
	return "", false
}

func (r *Receiver) readUDP(ctx context.Context) {
	p := NewParser(r.clk)
	buf := make([]byte, 65535)
	for {
		n, from, err := r.udp.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			r.logf("syslog receiver: udp read: %v", err)
			continue
		}
		r.datagrams.Add(1)
		ip := addrOf(from)
		dev, ok := r.source(r.pol.Load(), ip)
		if !ok {
			r.lines.Add(1)
			r.drop(DropUnknownSource, ip, "not a configured device or source (syslog.sources, syslog.accept_unknown_sources)")
			continue
		}
		pkt := trimTrailer(buf[:n])
		if len(pkt) == 0 {
			r.drop(DropEmpty, ip, "an empty datagram")
			continue
		}
		cut := len(pkt) > MaxLine
		r.handle(p, pkt, cut, ip, dev, "udp")
	}
}

// handle judges one line from a kept source: the rate, then parsing.
func (r *Receiver) handle(p *Parser, line []byte, cut bool, ip netip.Addr, dev, transport string) {
	defer func() {
		// Nothing a sender puts in a line may stop the receiver.
		if v := recover(); v != nil {
			r.logf("syslog receiver: internal error on a line from %s (%d bytes): %v", ip, len(line), v)
		}
	}()
	r.lines.Add(1)
	r.limMu.Lock()
	reason := r.lim.allow(ip, r.clk.Mono())
	r.limMu.Unlock()
	if reason != "" {
		why := "over the sender's rate (syslog.rate_limit.per_source)"
		if reason == DropRateTotal {
			why = "over the rate of all senders (syslog.rate_limit.total)"
		}
		r.drop(reason, ip, why)
		return
	}
	msg := p.Parse(line)
	ev := eventOf(msg, r.clk.Now(), dev, ip, transport)
	if cut {
		ev.Fields["cut"] = "true"
		r.truncated.Add(1)
	}
	if msg.Format == "raw" {
		r.rawLines.Add(1)
	}
	r.accepted.Add(1)
	if r.onEvent != nil {
		r.onEvent(ev)
	}
}

// eventOf is the event a parsed line becomes: dated by the receiver's
// clock (the sender's time is kept as a field), named by its app.
func eventOf(m Message, now time.Time, dev string, ip netip.Addr, transport string) checks.Event {
	ev := checks.Event{Time: now, Device: dev, Source: checks.SourceSyslog, Name: m.App, Severity: checks.SyslogStatus(m.Severity), Detail: m.Text,
		Fields: map[string]string{
			checks.FieldFacility:  checks.SyslogFacilities[m.Facility],
			checks.FieldSeverity:  checks.SyslogSeverities[m.Severity],
			checks.FieldSender:    ip.String(),
			checks.FieldTransport: transport,
			checks.FieldFormat:    m.Format,
		}}
	if ev.Name == "" {
		ev.Name = "syslog"
	}
	for k, v := range map[string]string{checks.FieldHost: m.Host, checks.FieldApp: m.App, checks.FieldProcID: m.ProcID, checks.FieldMsgID: m.MsgID} {
		if v != "" {
			ev.Fields[k] = v
		}
	}
	if !m.Timestamp.IsZero() {
		if m.Local {
			ev.Fields[checks.FieldTimestamp] = m.Timestamp.Format("2006-01-02T15:04:05.999999")
		} else {
			ev.Fields[checks.FieldTimestamp] = m.Timestamp.Format(time.RFC3339Nano)
		}
	}
	for k, v := range m.SD {
		ev.Fields[k] = v
	}
	if m.SDCut > 0 {
		ev.Fields["sd_cut"] = fmt.Sprint(m.SDCut)
	}
	return ev
}

// accept takes connections until the listener closes; each runs in its
// own goroutine, counted in wg.
func (r *Receiver) accept(ctx context.Context, ln net.Listener, transport string, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			r.logf("syslog receiver: %s accept: %v", transport, err)
			// A temporary failure (out of file descriptors) must not
			// spin.
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		ip := addrOf(c.RemoteAddr())
		pol := r.pol.Load()
		if _, ok := r.source(pol, ip); !ok {
			r.drop(DropUnknownSource, ip, transport+" connection not from a configured device or source")
			c.Close()
			continue
		}
		if !r.hold(c, ip, pol) {
			r.drop(DropConnections, ip, fmt.Sprintf("%s connection over syslog.max_connections (%d in all, %d per sender)", transport, pol.MaxConnections, pol.perSourceConns()))
			c.Close()
			continue
		}
		r.connections.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.release(c, ip)
			r.serve(ctx, c, ip, transport)
		}()
	}
}

// hold registers a connection within the limits.
func (r *Receiver) hold(c net.Conn, ip netip.Addr, pol *policy) bool {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	if len(r.conns) >= pol.MaxConnections || r.perConn[ip] >= pol.perSourceConns() {
		return false
	}
	r.conns[c] = ip
	r.perConn[ip]++
	return true
}

func (r *Receiver) release(c net.Conn, ip netip.Addr) {
	c.Close()
	r.connMu.Lock()
	defer r.connMu.Unlock()
	delete(r.conns, c)
	if r.perConn[ip]--; r.perConn[ip] <= 0 {
		delete(r.perConn, ip)
	}
}

// serve reads one connection's frames until it ends, idles too long,
// breaks the framing or its sender stops being accepted.
func (r *Receiver) serve(ctx context.Context, c net.Conn, ip netip.Addr, transport string) {
	var rd io.Reader = c
	if transport == "tls" {
		tc := tls.Server(c, r.tlsConf)
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.drop(DropTLS, ip, err.Error())
			}
			return
		}
		rd = tc
	}
	p := NewParser(r.clk)
	fr := newFrameReader(rd)
	for {
		pol := r.pol.Load()
		c.SetReadDeadline(time.Now().Add(pol.IdleTimeout))
		frame, cut, err := fr.next()
		if err != nil {
			var ne net.Error
			switch {
			case ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			case errors.Is(err, errFraming):
				r.drop(DropFraming, ip, transport+" stream is not syslog framing (octet count or newline); connection closed")
			case errors.As(err, &ne) && ne.Timeout():
				r.logf("syslog receiver: closing the %s connection of %s: idle for %s (syslog.idle_timeout)", transport, ip, pol.IdleTimeout)
			}
			return
		}
		dev, ok := r.source(r.pol.Load(), ip) // the policy in force now, not when the read began
		if !ok {
			r.lines.Add(1)
			r.drop(DropUnknownSource, ip, "no longer a configured device or source; connection closed")
			return
		}
		r.handle(p, frame, cut, ip, dev, transport)
	}
}

// resolveLoop looks the devices' host names up now, after every policy
// change and every resolveEvery.
func (r *Receiver) resolveLoop(ctx context.Context) {
	t := r.clk.NewTimer(resolveEvery)
	defer t.Stop()
	for {
		p := r.pol.Load()
		m := map[netip.Addr]string{}
		for name, host := range p.named {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ips, err := r.lookup(lctx, host)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					r.logf("syslog receiver: device %q: looking up %s: %v (its lines are dropped as from an unknown source until it resolves)", name, host, err)
				}
				continue
			}
			for _, ip := range ips {
				m[ip.Unmap().WithZone("")] = name
			}
		}
		r.resolved.Store(&m)
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

// addrOf is a sender's IP, without port or zone, IPv4 unmapped.
func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// limiter is a token bucket per sender plus one for all senders.
type limiter struct {
	rate, total float64
	all         checks.TokenBucket
	per         map[netip.Addr]*checks.TokenBucket
}

func newLimiter(rate, total float64, now time.Duration) *limiter {
	return &limiter{rate: rate, total: total, all: checks.NewTokenBucket(total*burstSeconds, now), per: map[netip.Addr]*checks.TokenBucket{}}
}

func (l *limiter) set(rate, total float64) { l.rate, l.total = rate, total }

// allow takes a token for ip and one from the total; it returns "" or
// the reason naming the empty bucket.
func (l *limiter) allow(ip netip.Addr, now time.Duration) string {
	b, ok := l.per[ip]
	if !ok {
		if len(l.per) >= maxBuckets {
			l.prune(now)
		}
		nb := checks.NewTokenBucket(l.rate*burstSeconds, now)
		b = &nb
		l.per[ip] = b
	}
	if !b.Take(now, l.rate, l.rate*burstSeconds) {
		return DropRateSource
	}
	if !l.all.Take(now, l.total, l.total*burstSeconds) {
		return DropRateTotal
	}
	return ""
}

// prune forgets senders whose bucket has refilled (they lose nothing),
// and if that is not enough, any: the total bucket still holds.
func (l *limiter) prune(now time.Duration) {
	for ip, b := range l.per {
		if b.Level(now, l.rate, l.rate*burstSeconds) >= l.rate*burstSeconds {
			delete(l.per, ip)
		}
	}
	for ip := range l.per {
		if len(l.per) < maxBuckets {
			break
		}
		delete(l.per, ip)
	}
}
