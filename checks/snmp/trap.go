package snmp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
	"outpost/checks/clock"
)

// SplitHostPort reads "host", "host:port" or "[v6]:port", defaulting the
// port to 161.
func SplitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Count(addr, ":") == 0 || (strings.Count(addr, ":") > 1 && !strings.Contains(addr, "]")) {
			return strings.Trim(addr, "[]"), checks.DefaultSNMPPort, nil
		}
		return "", 0, fmt.Errorf("%q is not host or host:port", addr)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not 1 to 65535", addr, ps)
	}
	return host, p, nil
}

// TrapConfig says which traps the receiver accepts and whom they are from.
// Its zero value keeps nothing: a trap must come from one of Devices, with
// one of Communities or that device's own (v1/v2c), or as one of Users.
type TrapConfig struct {
	// Communities accepted from any v1/v2c sender, besides each device's
	// own community on traps from its address.
	Communities []string
	// AcceptAnyCommunity keeps v1/v2c traps whatever their community.
	AcceptAnyCommunity bool
	// Users are the SNMPv3 users accepted; v3 traps from anyone else are
	// rejected.
	Users []checks.TrapUser
	// Devices are the configured devices: traps from their addresses
	// attach to them, and traps from other addresses are dropped unless
	// AcceptUnknownSources.
	Devices []TrapDevice
	// AcceptUnknownSources keeps traps from addresses that are no device
	// (the event is named by the address).
	AcceptUnknownSources bool
	// Rate limits the traps kept per second (zero fields: defaults).
	Rate TrapRate
	// Logf logs dropped and malformed packets (default log.Printf).
	Logf func(format string, args ...any)
	// Clock dates events and measures engine time and rates (default
	// the real clock).
	Clock clock.Clock
	// LookupHost resolves devices configured by host name (default DNS).
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
	// EngineID is the receiver's own SNMPv3 engine ID (5 to 32 bytes).
	// A v3 inform is addressed to it: senders discover it with a probe
	// the receiver answers, and localize their keys with it. Empty makes
	// one up for this receiver's life; the daemon keeps one in its store
	// so senders configured with it (snmptrap -Ci -e) keep working.
	EngineID []byte
	// EngineBoots is the receiver's snmpEngineBoots (RFC 3414): how many
	// times it has started; the daemon counts its starts.
	EngineBoots uint32
}

// NewEngineID makes an SNMPv3 engine ID in RFC 3411's format 5
// (administratively assigned octets) with random content.
func NewEngineID() []byte {
	id := []byte{0x80, 0, 0, 0, 5}
	var rnd [12]byte
	rand.Read(rnd[:])
	return append(id, rnd[:]...)
}

// informWindow is RFC 3414's time window: an inform whose engine time is
// further than this from the receiver's clock is refused as stale.
const informWindow = 150 * time.Second

// TrapReceiver turns SNMP traps and informs (v1, v2c; v3 traps) into
// checks.Events. Nothing a sender puts in a packet can crash it: decoding
// runs under recover, and bad packets are counted and logged.
type TrapReceiver struct {
	conn    net.PacketConn
	onEvent func(checks.Event)
	logf    func(format string, args ...any)
	clk     clock.Clock
	lookup  func(ctx context.Context, host string) ([]netip.Addr, error)
	// pol is the config in force; SetConfig replaces it.
	pol atomic.Pointer[trapPolicy]
	// resolved maps looked-up addresses to devices named by host name.
	resolved     atomic.Pointer[map[netip.Addr]resolvedAddr]
	reconfigured chan struct{}
	// dec decodes v1/v2c; the policy's dec3 v3 (gosnmp checks v3
	// authentication only on a Version3 decoder).
	dec *gosnmp.GoSNMP
	// disc parses unauthenticated v3 messages addressed to the engine:
	// discovery probes, answered with a report.
	disc     *gosnmp.GoSNMP
	engineID string
	boots    uint32
	started  time.Duration // on the monotonic clock

	// lim limits accepted traps (under limPol's rates), replies the
	// reports; both used by the receiving goroutine only.
	lim     *limiter
	limPol  *trapPolicy
	replies *limiter

	packets, accepted, truncated atomic.Int64
	dropped                      [len(dropReasons)]atomic.Int64
	reports, reportsLimited      atomic.Int64
	informResponses              atomic.Int64
	// RFC 3414's usmStats counters, reported to senders.
	unknownEngineIDs, notInTimeWindows atomic.Uint32
}

// dropReasons indexes the drop counters.
var dropReasons = [...]string{DropUnknownSource, DropCommunity, DropV3, DropMalformed, DropRateSource, DropRateTotal}

func reasonIndex(reason string) int {
	for i, r := range dropReasons {
		if r == reason {
			return i
		}
	}
	return 3 // malformed
}

// NewTrapReceiver binds addr (UDP) now, so a busy port is reported at
// start-up, and calls onEvent for every accepted trap once Run runs.
func NewTrapReceiver(addr string, cfg TrapConfig, onEvent func(checks.Event)) (*TrapReceiver, error) {
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.LookupHost == nil {
		cfg.LookupHost = lookupHost
	}
	pol, err := compileTrapPolicy(cfg)
	if err != nil {
		return nil, err
	}
	if len(cfg.EngineID) == 0 {
		cfg.EngineID = NewEngineID()
	}
	if len(cfg.EngineID) < 5 || len(cfg.EngineID) > 32 {
		return nil, fmt.Errorf("trap receiver: engine ID is %d bytes; SNMPv3 wants 5 to 32", len(cfg.EngineID))
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("trap receiver: %w", err)
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		// A switch that reboots sends its traps at once; the kernel
		// caps this at its rmem_max.
		uc.SetReadBuffer(1 << 20)
	}
	now := cfg.Clock.Mono()
	r := &TrapReceiver{conn: pc, onEvent: onEvent, logf: cfg.Logf, clk: cfg.Clock, lookup: cfg.LookupHost, reconfigured: make(chan struct{}, 1),
		dec:      &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil), Version: gosnmp.Version2c},
		engineID: string(cfg.EngineID), boots: max(cfg.EngineBoots, 1), started: now,
		replies: newLimiter(reportRatePerDest, reportBurstDest, reportRateTotal, reportBurstTotal, now)}
	r.disc = &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil), Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}}
	r.pol.Store(pol)
	r.lim, r.limPol = newLimiter(pol.rate.PerSource, pol.rate.PerSource*checks.TrapBurstSeconds, pol.rate.Total, pol.rate.Total*checks.TrapBurstSeconds, now), pol
	return r, nil
}

// SetConfig applies a new config to a running receiver: devices,
// communities, v3 users, what is accepted and the rates. The listening
// address, engine ID and boots, Logf, Clock and LookupHost stay those
// NewTrapReceiver was given. On error the running config stays.
func (r *TrapReceiver) SetConfig(cfg TrapConfig) error {
	pol, err := compileTrapPolicy(cfg)
	if err != nil {
		return err
	}
	r.pol.Store(pol)
	select {
	case r.reconfigured <- struct{}{}:
	default:
	}
	return nil
}

// EngineID is the receiver's SNMPv3 engine ID, for senders that are
// configured with it rather than discovering it.
func (r *TrapReceiver) EngineID() []byte { return []byte(r.engineID) }

// engineTime is snmpEngineTime: seconds since the receiver started, on
// the monotonic clock (a wall clock step must not put every sender out
// of the time window).
func (r *TrapReceiver) engineTime() uint32 { return uint32((r.clk.Mono() - r.started) / time.Second) }

// Addr is the bound address (useful with port 0).
func (r *TrapReceiver) Addr() net.Addr { return r.conn.LocalAddr() }

// Stats returns the receiver's counters.
func (r *TrapReceiver) Stats() TrapStats {
	s := TrapStats{Packets: r.packets.Load(), Accepted: r.accepted.Load(), Truncated: r.truncated.Load(), Dropped: map[string]int64{},
		Reports: r.reports.Load(), ReportsLimited: r.reportsLimited.Load(), InformResponses: r.informResponses.Load()}
	for i, reason := range dropReasons {
		s.Dropped[reason] = r.dropped[i].Load()
	}
	return s
}

// Run receives until ctx is done, then closes the socket.
func (r *TrapReceiver) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resolving := make(chan struct{})
	go func() { r.resolveLoop(ctx); close(resolving) }()
	defer func() { <-resolving }()
	go func() {
		<-ctx.Done()
		r.conn.Close()
	}()
	buf := make([]byte, 65535)
	for {
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			r.logf("trap receiver: read: %v", err)
			continue
		}
		r.handle(buf[:n], from)
	}
}

// errRejected marks packets that decoded but are not accepted.
var errRejected = errors.New("rejected")

// dropError is a packet refused for a reason other than v3's. The
// common ones are values made once: a flood allocates nothing for them.
type dropError struct {
	reason, msg string
}

func (e *dropError) Error() string { return errRejected.Error() + ": " + e.msg }
func (e *dropError) Unwrap() error { return errRejected }

var (
	errUnknownSource = &dropError{DropUnknownSource, "not the address of a configured device (traps.accept_unknown_sources)"}
	errCommunity     = &dropError{DropCommunity, "community not accepted (traps.communities, the device's snmp.community, traps.accept_any_community)"}
	errSourceRate    = &dropError{DropRateSource, "over the sender's trap rate (traps.rate_limit.per_source)"}
	errTotalRate     = &dropError{DropRateTotal, "over the trap rate of all senders (traps.rate_limit.total)"}
)

func dropReason(err error) string {
	var d *dropError
	switch {
	case errors.As(err, &d):
		return d.reason
	case errors.Is(err, errRejected):
		return DropV3
	}
	return DropMalformed
}

// handle judges one packet (pkt is reused after it returns): decoded and
// checked against the config, then within the rates, it becomes an event.
func (r *TrapReceiver) handle(pkt []byte, from net.Addr) {
	// gosnmp's panics are errors already (unmarshal); this is for the
	// receiver's own code, which must not stop receiving either.
	defer func() {
		if v := recover(); v != nil {
			r.dropped[reasonIndex(DropMalformed)].Add(1)
			r.logf("trap receiver: internal error on a packet from %s (%d bytes): %v", from, len(pkt), v)
		}
	}()
	r.judge(pkt, from)
}

// judge is handle without its safety net (the fuzz target calls it).
func (r *TrapReceiver) judge(pkt []byte, from net.Addr) {
	r.packets.Add(1)
	x, err := r.parse(pkt, from)
	var rep *report
	if errors.As(err, &rep) {
		r.sendReport(rep, from)
		if rep.discovery {
			return // a probe is part of every v3 inform, not a problem
		}
	}
	if err == nil {
		// The rate is judged before the event is built: a flood within
		// the community costs its decoding only.
		if r.limPol != x.pol {
			r.lim.set(x.pol.rate.PerSource, x.pol.rate.PerSource*checks.TrapBurstSeconds, x.pol.rate.Total, x.pol.rate.Total*checks.TrapBurstSeconds)
			r.limPol = x.pol
		}
		switch r.lim.allow(x.ip, r.clk.Mono()) {
		case DropRateSource:
			err = errSourceRate
		case DropRateTotal:
			err = errTotalRate
		}
	}
	if err != nil {
		reason := dropReason(err)
		n := r.dropped[reasonIndex(reason)].Add(1)
		if n <= 10 || n%1000 == 0 {
			r.logf("trap receiver: dropped packet %d for %s from %s (%d bytes): %v", n, reason, from, len(pkt), err)
		}
		return
	}
	ev, p := r.event(x), x.p
	r.accepted.Add(1)
	if ev.Fields[fieldVarbindsCut] != "" {
		r.truncated.Add(1)
	}
	if p.PDUType == gosnmp.InformRequest {
		// An inform wants the same varbinds back as a response; a v3 one
		// authenticated and encrypted as it came, with this engine's keys.
		p.PDUType, p.Error, p.ErrorIndex = gosnmp.GetResponse, gosnmp.NoError, 0
		p.MsgFlags &^= gosnmp.Reportable
		if out, err := marshal(p); err == nil {
			r.conn.WriteTo(out, from)
			r.informResponses.Add(1)
		} else {
			r.logf("trap receiver: answering the inform from %s: %v", from, err)
		}
	}
	if r.onEvent != nil {
		r.onEvent(ev)
	}
}

// Standard trap OIDs (SNMPv2-MIB snmpTraps) and their v1 generic numbers.
var (
	trapNames = map[string]string{
		".1.3.6.1.6.3.1.1.5.1": "coldStart", ".1.3.6.1.6.3.1.1.5.2": "warmStart", ".1.3.6.1.6.3.1.1.5.3": "linkDown",
		".1.3.6.1.6.3.1.1.5.4": "linkUp", ".1.3.6.1.6.3.1.1.5.5": "authenticationFailure", ".1.3.6.1.6.3.1.1.5.6": "egpNeighborLoss",
	}
	genericNames   = []string{"coldStart", "warmStart", "linkDown", "linkUp", "authenticationFailure", "egpNeighborLoss"}
	trapSeverity   = map[string]checks.Status{"coldStart": checks.Warning, "warmStart": checks.Warning, "linkDown": checks.Warning, "linkUp": checks.OK, "authenticationFailure": checks.Warning, "egpNeighborLoss": checks.Warning}
	trapMeaning    = map[string]string{"coldStart": "device restarted (cold start)", "warmStart": "agent restarted (warm start)", "linkDown": "interface went down", "linkUp": "interface came up", "authenticationFailure": "someone used a wrong community or credentials on the device", "egpNeighborLoss": "EGP neighbour lost"}
	oidSnmpTrapOID = ".1.3.6.1.6.3.1.1.4.1.0"
	oidSysUpTime0  = ".1.3.6.1.2.1.1.3.0"
	oidIfIndex     = ".1.3.6.1.2.1.2.2.1.1."
	oidIfDescr     = ".1.3.6.1.2.1.2.2.1.2."
)

// fieldVarbindsCut is set on events whose variables were cut or left out.
const fieldVarbindsCut = "varbinds_cut"

// unmarshal decodes with gosnmp, whose decoder has crashed on crafted
// input before: a panic becomes an error.
func unmarshal(dec *gosnmp.GoSNMP, pkt []byte, unauthenticated bool) (p *gosnmp.SnmpPacket, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("decoder panic: %v", v)
		}
	}()
	return dec.UnmarshalTrap(pkt, unauthenticated)
}

// marshal encodes with gosnmp; an answer built from a crafted packet
// must not crash the receiver either.
func marshal(p *gosnmp.SnmpPacket) (b []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			b, err = nil, fmt.Errorf("encoder panic: %v", v)
		}
	}()
	return p.MarshalMsg()
}

// decode turns one packet into an Event, under the config in force.
func (r *TrapReceiver) decode(pkt []byte, from net.Addr) (checks.Event, *gosnmp.SnmpPacket, error) {
	x, err := r.parse(pkt, from)
	if err != nil {
		return checks.Event{}, nil, err
	}
	return r.event(x), x.p, nil
}

// parsed is a packet that passed the source, community and v3 checks of
// pol: ip's device is src, if known.
type parsed struct {
	p     *gosnmp.SnmpPacket
	pol   *trapPolicy
	ip    netip.Addr
	src   trapSource
	known bool
}

// parse decodes a packet and checks it against the config in force,
// cheapest checks first.
func (r *TrapReceiver) parse(pkt []byte, from net.Addr) (x parsed, err error) {
	x.pol, x.ip = r.pol.Load(), addrOf(from)
	pol := x.pol
	x.src, x.known = r.source(pol, x.ip)
	src, known := x.src, x.known
	if !known && !pol.cfg.AcceptUnknownSources {
		return x, errUnknownSource
	}
	if len(pkt) == 0 {
		return x, errors.New("empty packet")
	}
	if c, ok := peekCommunity(pkt); ok && !pol.communityOK(c, src, known) {
		return x, errCommunity // before decoding the rest
	}
	dec := r.dec
	if v, ok := peekVersion(pkt); ok && v == 3 {
		if pol.dec3 == nil {
			return x, fmt.Errorf("%w: SNMPv3 trap but no v3 users are configured", errRejected)
		}
		dec = pol.dec3
	}
	p, err := unmarshal(dec, pkt, false)
	if err != nil && dec == pol.dec3 {
		// Not one of the users: it may be a discovery probe, which
		// carries no user and no engine ID and is answered with a report.
		if q, qerr := unmarshal(r.disc, pkt, true); qerr == nil && isProbe(q) {
			r.unknownEngineIDs.Add(1)
			return x, &report{req: q, discovery: true, oid: oidUnknownEngineIDs, count: r.unknownEngineIDs.Load()}
		}
	}
	if err != nil {
		if strings.Contains(err.Error(), "credentials") || strings.Contains(err.Error(), "authentic") || strings.Contains(err.Error(), "security parameters") {
			return x, fmt.Errorf("%w: SNMPv3 %v", errRejected, err)
		}
		return x, err
	}
	if p == nil {
		return x, errors.New("nothing decoded")
	}
	switch p.Version {
	case gosnmp.Version1, gosnmp.Version2c:
		if !pol.communityOK(p.Community, src, known) {
			return x, errCommunity
		}
	case gosnmp.Version3:
		if pol.dec3 == nil {
			return x, fmt.Errorf("%w: SNMPv3 trap but no v3 users are configured", errRejected)
		}
	}
	switch p.PDUType {
	case gosnmp.Trap, gosnmp.SNMPv2Trap, gosnmp.InformRequest:
	default:
		return x, fmt.Errorf("not a trap (PDU type %#x)", byte(p.PDUType))
	}
	if p.Version == gosnmp.Version3 && p.PDUType == gosnmp.InformRequest {
		if err := r.checkInform(p); err != nil {
			return x, err
		}
	}
	x.p = p
	return x, nil
}

// event builds the event of an accepted trap from ip (src: its device, if
// known), keeping at most maxTrapVarbinds variables of maxTrapValue bytes.
func (r *TrapReceiver) event(x parsed) checks.Event {
	pol, p, ip, src, known := x.pol, x.p, x.ip, x.src, x.known
	sender := ip.String()
	ev := checks.Event{Time: r.clk.Now(), Device: sender, Source: "trap", Fields: map[string]string{"sender": sender}}
	if known {
		ev.Device = src.device
	}
	if p.Version == gosnmp.Version1 && p.AgentAddress != "" && p.AgentAddress != "0.0.0.0" {
		// A v1 trap names the agent that raised it: a relay's traps
		// attach to the device of that address when it is configured.
		agent, _ := capValue(p.AgentAddress)
		ev.Fields["agent_address"] = agent
		if a, err := netip.ParseAddr(p.AgentAddress); err == nil && a.Unmap() != ip {
			if d, ok := r.source(pol, a.Unmap()); ok {
				ev.Device = d.device
			} else if !known {
				ev.Device = a.Unmap().String()
			}
		}
	}
	var trapOID string
	if p.PDUType == gosnmp.Trap {
		ent, _ := capValue(strings.TrimPrefix(p.Enterprise, "."))
		ev.Fields["enterprise"] = ent
		if p.GenericTrap >= 0 && p.GenericTrap < len(genericNames) {
			ev.Name = genericNames[p.GenericTrap]
		} else {
			// RFC 3584: enterprise.0.specific.
			trapOID = fmt.Sprintf("%s.0.%d", ent, p.SpecificTrap)
		}
		ev.Fields["uptime_ticks"] = strconv.FormatUint(uint64(p.Timestamp), 10)
	}
	var ifIndex, ifDescr string
	keys := []string{}
	cut := 0
	for _, v := range p.Variables {
		name := normOID(v.Name)
		switch {
		case name == oidSnmpTrapOID:
			trapOID, _ = capValue(strings.TrimPrefix(str(v), "."))
			ev.Name = trapNames["."+trapOID]
			continue
		case name == oidSysUpTime0:
			if t, ok := unsigned(v); ok {
				ev.Fields["uptime_ticks"] = strconv.FormatUint(t, 10)
			}
			continue
		case len(keys) == maxTrapVarbinds:
			cut++
			continue
		}
		val, shortened := capValue(str(v))
		if shortened {
			cut++
		}
		switch {
		case strings.HasPrefix(name, oidIfIndex):
			ifIndex = val
		case strings.HasPrefix(name, oidIfDescr):
			ifDescr = val
		}
		k, _ := capValue(strings.TrimPrefix(name, "."))
		ev.Fields[k] = val
		keys = append(keys, k)
	}
	if cut > 0 {
		ev.Fields[fieldVarbindsCut] = strconv.Itoa(cut)
	}
	if ev.Name == "" {
		ev.Name = trapOID
		if ev.Name == "" {
			ev.Name = "trap"
		}
	}
	if trapOID != "" {
		ev.Fields["trap_oid"] = trapOID
	}
	sev, known := trapSeverity[ev.Name]
	if !known {
		sev = checks.Unknown
	}
	ev.Severity = sev
	detail := trapMeaning[ev.Name]
	if detail == "" {
		detail = "trap " + ev.Name
	}
	if ifIndex != "" || ifDescr != "" {
		detail += " (interface"
		if ifDescr != "" {
			detail += " " + ifDescr
		}
		if ifIndex != "" {
			detail += " ifIndex " + ifIndex
		}
		detail += ")"
		ev.Fields["if_index"] = ifIndex
	}
	sort.Strings(keys)
	if len(keys) > 0 && ifIndex == "" && ifDescr == "" {
		var parts []string
		for _, k := range keys[:min(len(keys), 4)] {
			parts = append(parts, k+"="+ev.Fields[k])
		}
		detail += ": " + strings.Join(parts, ", ")
	}
	if p.PDUType == gosnmp.InformRequest {
		detail += " [inform]"
	}
	ev.Detail = detail
	return ev
}

// Report OIDs (RFC 3414 usmStats) sent back to v3 inform senders.
const (
	oidUnknownEngineIDs = ".1.3.6.1.6.3.15.1.1.4.0"
	oidNotInTimeWindows = ".1.3.6.1.6.3.15.1.1.2.0"
)

// report is a v3 message the receiver answers with a Report PDU instead
// of accepting: a discovery probe, an inform for another engine, or one
// outside the time window.
type report struct {
	req       *gosnmp.SnmpPacket
	discovery bool
	oid       string
	count     uint32
	// authed reports (not in time window) go back under the sender's
	// keys, so it can trust the engine time it learns from them.
	authed bool
}

func (e *report) Error() string {
	switch e.oid {
	case oidNotInTimeWindows:
		if e.discovery {
			return "SNMPv3 time synchronization request"
		}
		return errRejected.Error() + ": SNMPv3 inform outside the time window (stale, replayed, or the sender's clock for this engine is off); told the sender the engine's time"
	case oidUnknownEngineIDs:
		if e.discovery {
			return "SNMPv3 engine discovery probe"
		}
		return errRejected.Error() + ": SNMPv3 inform addressed to another engine ID; told the sender this receiver's"
	}
	return errRejected.Error()
}

func (e *report) Unwrap() error {
	if e.discovery {
		return nil
	}
	return errRejected
}

func isProbe(p *gosnmp.SnmpPacket) bool {
	usm, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	return ok && p.Version == gosnmp.Version3 && p.MsgFlags&gosnmp.Reportable != 0 && p.MsgFlags&gosnmp.AuthPriv == gosnmp.NoAuthNoPriv &&
		usm.UserName == "" && usm.AuthoritativeEngineID == "" && p.PDUType == gosnmp.GetRequest && len(p.Variables) == 0
}

// checkInform applies RFC 3414's rules for a message this engine is
// authoritative for: it must name this engine, and its boots and time
// must be this engine's (within the window).
func (r *TrapReceiver) checkInform(p *gosnmp.SnmpPacket) error {
	usm, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if !ok {
		return fmt.Errorf("%w: SNMPv3 inform without USM parameters", errRejected)
	}
	if usm.AuthoritativeEngineID != r.engineID {
		r.unknownEngineIDs.Add(1)
		return &report{req: p, oid: oidUnknownEngineIDs, count: r.unknownEngineIDs.Load()}
	}
	now := r.engineTime()
	diff := int64(usm.AuthoritativeEngineTime) - int64(now)
	if usm.AuthoritativeEngineBoots != r.boots || diff > int64(informWindow/time.Second) || diff < -int64(informWindow/time.Second) {
		r.notInTimeWindows.Add(1)
		// Boots and time 0 is how a sender that was given the engine ID
		// (snmptrap -Ci -e) asks for them: a sync, not a stale message.
		sync := usm.AuthoritativeEngineBoots == 0 && usm.AuthoritativeEngineTime == 0
		return &report{req: p, oid: oidNotInTimeWindows, count: r.notInTimeWindows.Load(), authed: true, discovery: sync}
	}
	return nil
}

// sendReport answers a v3 message with a Report PDU carrying this
// engine's ID, boots and time, and the usmStats counter that says why.
func (r *TrapReceiver) sendReport(e *report, to net.Addr) {
	if r.replies.allow(addrOf(to), r.clk.Mono()) != "" {
		// Spoofed probes must not make the box a reflector; a real
		// sender retries.
		if n := r.reportsLimited.Add(1); n <= 10 || n%1000 == 0 {
			r.logf("trap receiver: report %d to %s not sent: over the reply rate (%d/s per address, %d/s in all)", n, to, reportRatePerDest, reportRateTotal)
		}
		return
	}
	q := e.req
	usm, ok := q.SecurityParameters.Copy().(*gosnmp.UsmSecurityParameters)
	if !ok {
		return
	}
	usm.AuthoritativeEngineID, usm.AuthoritativeEngineBoots, usm.AuthoritativeEngineTime = r.engineID, r.boots, r.engineTime()
	flags := gosnmp.NoAuthNoPriv
	if e.authed {
		// RFC 3414 3.2.7: a notInTimeWindow report is authenticated
		// (never encrypted) so the sender may believe its time.
		flags = q.MsgFlags & gosnmp.AuthNoPriv
	} else {
		usm.UserName, usm.AuthenticationProtocol, usm.PrivacyProtocol = "", gosnmp.NoAuth, gosnmp.NoPriv
	}
	out := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: flags, SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: usm,
		MsgID: q.MsgID, MsgMaxSize: q.MsgMaxSize, ContextEngineID: r.engineID, PDUType: gosnmp.Report, RequestID: q.RequestID,
		Variables: []gosnmp.SnmpPDU{{Name: e.oid, Type: gosnmp.Counter32, Value: uint(e.count)}}}
	b, err := marshal(out)
	if err != nil {
		r.logf("trap receiver: report to %s: %v", to, err)
		return
	}
	r.conn.WriteTo(b, to)
	r.reports.Add(1)
}

// peekVersion reads the version field at the start of an SNMP message
// (SEQUENCE, then INTEGER) without decoding the rest.
func peekVersion(b []byte) (int, bool) {
	if len(b) < 2 || b[0] != 0x30 {
		return 0, false
	}
	i := 2
	if b[1]&0x80 != 0 {
		i += int(b[1] & 0x7f)
	}
	if len(b) < i+3 || b[i] != 0x02 || b[i+1] != 0x01 {
		return 0, false
	}
	return int(b[i+2]), true
}

// peekCommunity reads the community of a v1/v2c message (SEQUENCE,
// version, OCTET STRING) without decoding the rest.
func peekCommunity(b []byte) (string, bool) {
	v, ok := peekVersion(b)
	if !ok || v > 1 {
		return "", false
	}
	i := 2
	if b[1]&0x80 != 0 {
		i += int(b[1] & 0x7f)
	}
	i += 3
	if len(b) < i+2 || b[i] != 0x04 {
		return "", false
	}
	n := int(b[i+1])
	i += 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 2 || len(b) < i+k {
			return "", false
		}
		n = 0
		for _, c := range b[i : i+k] {
			n = n<<8 | int(c)
		}
		i += k
	}
	if len(b) < i+n {
		return "", false
	}
	return string(b[i : i+n]), true
}

// TrapConfigFor builds the receiver's settings from the config's traps
// section and devices (so events attach to devices by address, and a
// device's own community is accepted from it).
func TrapConfigFor(t checks.Traps, devices []checks.Device) TrapConfig {
	c := TrapConfig{AcceptAnyCommunity: t.AcceptAnyCommunity, AcceptUnknownSources: t.AcceptUnknownSources,
		Rate: TrapRate{PerSource: t.RateLimit.PerSource, Total: t.RateLimit.Total}}
	for _, s := range t.Communities {
		c.Communities = append(c.Communities, s.Reveal())
	}
	c.Users = append(c.Users, t.V3Users...)
	for _, d := range devices {
		td := TrapDevice{Name: d.Name, Address: d.Address}
		if d.SNMP != nil && d.SNMP.Version != "3" {
			td.Community = d.SNMP.Community.Reveal()
		}
		c.Devices = append(c.Devices, td)
	}
	return c
}
