package snmp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
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
type TrapConfig struct {
	// Communities accepted from v1/v2c senders; empty accepts any.
	Communities []string
	// Users are the SNMPv3 users accepted; v3 traps from anyone else are
	// rejected.
	Users []checks.TrapUser
	// Devices maps a sender's IP address to its configured device name,
	// so events attach to the device.
	Devices map[string]string
	// Logf logs rejected and malformed packets (default log.Printf).
	Logf func(format string, args ...any)
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
	cfg     TrapConfig
	onEvent func(checks.Event)
	// dec decodes v1/v2c; dec3 v3 (gosnmp checks v3 authentication only
	// on a Version3 decoder).
	dec, dec3 *gosnmp.GoSNMP
	// disc parses unauthenticated v3 messages addressed to the engine:
	// discovery probes, answered with a report.
	disc     *gosnmp.GoSNMP
	engineID string
	boots    uint32
	started  time.Time
	now      func() time.Time

	received, malformed, rejected atomic.Int64
	// RFC 3414's usmStats counters, reported to senders.
	unknownEngineIDs, notInTimeWindows atomic.Uint32
}

// NewTrapReceiver binds addr (UDP) now, so a busy port is reported at
// start-up, and calls onEvent for every accepted trap once Run runs.
func NewTrapReceiver(addr string, cfg TrapConfig, onEvent func(checks.Event)) (*TrapReceiver, error) {
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	dec := &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil), Version: gosnmp.Version2c}
	var dec3 *gosnmp.GoSNMP
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
		dec3 = &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil), Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel}
		dec3.SetTrapSecurityParametersTable(table)
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
	r := &TrapReceiver{conn: pc, cfg: cfg, onEvent: onEvent, dec: dec, dec3: dec3, now: time.Now,
		engineID: string(cfg.EngineID), boots: max(cfg.EngineBoots, 1), started: time.Now()}
	r.disc = &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil), Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}}
	return r, nil
}

// EngineID is the receiver's SNMPv3 engine ID, for senders that are
// configured with it rather than discovering it.
func (r *TrapReceiver) EngineID() []byte { return []byte(r.engineID) }

// engineTime is snmpEngineTime: seconds since the receiver started.
func (r *TrapReceiver) engineTime() uint32 { return uint32(r.now().Sub(r.started) / time.Second) }

// Addr is the bound address (useful with port 0).
func (r *TrapReceiver) Addr() net.Addr { return r.conn.LocalAddr() }

// Stats returns how many packets were accepted, malformed and rejected
// (wrong community, unknown v3 user or bad authentication).
func (r *TrapReceiver) Stats() (received, malformed, rejected int64) {
	return r.received.Load(), r.malformed.Load(), r.rejected.Load()
}

// Run receives until ctx is done, then closes the socket.
func (r *TrapReceiver) Run(ctx context.Context) error {
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
			r.cfg.Logf("trap receiver: read: %v", err)
			continue
		}
		r.handle(append([]byte(nil), buf[:n]...), from)
	}
}

// errRejected marks packets that decoded but are not accepted.
var errRejected = errors.New("rejected")

func (r *TrapReceiver) handle(pkt []byte, from net.Addr) {
	ev, p, err := r.decode(pkt, from)
	var rep *report
	if errors.As(err, &rep) {
		r.sendReport(rep, from)
		if rep.discovery {
			return // a probe is part of every v3 inform, not a problem
		}
	}
	switch {
	case errors.Is(err, errRejected):
		n := r.rejected.Add(1)
		if n <= 10 || n%1000 == 0 {
			r.cfg.Logf("trap receiver: rejected packet %d from %s: %v", n, from, err)
		}
		return
	case err != nil:
		n := r.malformed.Add(1)
		if n <= 10 || n%1000 == 0 {
			r.cfg.Logf("trap receiver: malformed packet %d from %s (%d bytes): %v", n, from, len(pkt), err)
		}
		return
	}
	r.received.Add(1)
	if p.PDUType == gosnmp.InformRequest {
		// An inform wants the same varbinds back as a response; a v3 one
		// authenticated and encrypted as it came, with this engine's keys.
		p.PDUType, p.Error, p.ErrorIndex = gosnmp.GetResponse, gosnmp.NoError, 0
		p.MsgFlags &^= gosnmp.Reportable
		if out, err := p.MarshalMsg(); err == nil {
			r.conn.WriteTo(out, from)
		} else {
			r.cfg.Logf("trap receiver: answering the inform from %s: %v", from, err)
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

// decode turns one packet into an Event. It never panics: gosnmp's
// decoder has crashed on crafted input before, so a panic becomes an error.
func (r *TrapReceiver) decode(pkt []byte, from net.Addr) (ev checks.Event, p *gosnmp.SnmpPacket, err error) {
	defer func() {
		if v := recover(); v != nil {
			ev, p, err = checks.Event{}, nil, fmt.Errorf("decoder panic: %v", v)
		}
	}()
	if len(pkt) == 0 {
		return ev, nil, errors.New("empty packet")
	}
	dec := r.dec
	if v, ok := peekVersion(pkt); ok && v == 3 {
		if r.dec3 == nil {
			return ev, nil, fmt.Errorf("%w: SNMPv3 trap but no v3 users are configured", errRejected)
		}
		dec = r.dec3
	}
	p, err = dec.UnmarshalTrap(pkt, false)
	if err != nil && dec == r.dec3 {
		// Not one of the users: it may be a discovery probe, which
		// carries no user and no engine ID and is answered with a report.
		if q, qerr := r.disc.UnmarshalTrap(pkt, true); qerr == nil && isProbe(q) {
			r.unknownEngineIDs.Add(1)
			return ev, nil, &report{req: q, discovery: true, oid: oidUnknownEngineIDs, count: r.unknownEngineIDs.Load()}
		}
	}
	if err != nil {
		if strings.Contains(err.Error(), "credentials") || strings.Contains(err.Error(), "authentic") || strings.Contains(err.Error(), "security parameters") {
			return ev, nil, fmt.Errorf("%w: SNMPv3 %v", errRejected, err)
		}
		return ev, nil, err
	}
	if p == nil {
		return ev, nil, errors.New("nothing decoded")
	}
	switch p.Version {
	case gosnmp.Version1, gosnmp.Version2c:
		if len(r.cfg.Communities) > 0 && !slices.Contains(r.cfg.Communities, p.Community) {
			return ev, nil, fmt.Errorf("%w: community not accepted", errRejected)
		}
	case gosnmp.Version3:
		if len(r.cfg.Users) == 0 {
			return ev, nil, fmt.Errorf("%w: SNMPv3 trap but no v3 users are configured", errRejected)
		}
	}
	switch p.PDUType {
	case gosnmp.Trap, gosnmp.SNMPv2Trap, gosnmp.InformRequest:
	default:
		return ev, nil, fmt.Errorf("not a trap (PDU type %#x)", byte(p.PDUType))
	}
	if p.Version == gosnmp.Version3 && p.PDUType == gosnmp.InformRequest {
		if err := r.checkInform(p); err != nil {
			return ev, nil, err
		}
	}
	ev = r.event(p, from)
	return ev, p, nil
}

func (r *TrapReceiver) event(p *gosnmp.SnmpPacket, from net.Addr) checks.Event {
	ip := from.String()
	if ua, ok := from.(*net.UDPAddr); ok {
		ip = ua.IP.String()
	}
	ev := checks.Event{Time: r.now(), Device: ip, Source: "trap", Fields: map[string]string{"sender": ip}}
	if p.Version == gosnmp.Version1 && p.AgentAddress != "" && p.AgentAddress != "0.0.0.0" {
		// A v1 trap names the agent that raised it (a proxy may relay it).
		ev.Fields["agent_address"] = p.AgentAddress
		if _, ok := r.cfg.Devices[ip]; !ok {
			ip = p.AgentAddress
			ev.Device = ip
		}
	}
	if name, ok := r.cfg.Devices[ip]; ok {
		ev.Device = name
	}
	var trapOID string
	if p.PDUType == gosnmp.Trap {
		ev.Fields["enterprise"] = strings.TrimPrefix(p.Enterprise, ".")
		if p.GenericTrap >= 0 && p.GenericTrap < len(genericNames) {
			ev.Name = genericNames[p.GenericTrap]
		} else {
			// RFC 3584: enterprise.0.specific.
			trapOID = fmt.Sprintf("%s.0.%d", strings.TrimPrefix(p.Enterprise, "."), p.SpecificTrap)
		}
		ev.Fields["uptime_ticks"] = strconv.FormatUint(uint64(p.Timestamp), 10)
	}
	var ifIndex, ifDescr string
	keys := []string{}
	for _, v := range p.Variables {
		name := normOID(v.Name)
		switch {
		case name == oidSnmpTrapOID:
			trapOID = strings.TrimPrefix(str(v), ".")
			ev.Name = trapNames["."+trapOID]
			continue
		case name == oidSysUpTime0:
			if t, ok := unsigned(v); ok {
				ev.Fields["uptime_ticks"] = strconv.FormatUint(t, 10)
			}
			continue
		case strings.HasPrefix(name, oidIfIndex):
			ifIndex = str(v)
		case strings.HasPrefix(name, oidIfDescr):
			ifDescr = str(v)
		}
		k := strings.TrimPrefix(name, ".")
		ev.Fields[k] = str(v)
		keys = append(keys, k)
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
	b, err := out.MarshalMsg()
	if err != nil {
		r.cfg.Logf("trap receiver: report to %s: %v", to, err)
		return
	}
	r.conn.WriteTo(b, to)
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

// TrapConfigFor builds the receiver's settings from the config's traps
// section and devices (so events attach to devices by address).
func TrapConfigFor(t checks.Traps, devices []checks.Device) TrapConfig {
	c := TrapConfig{Devices: map[string]string{}}
	for _, s := range t.Communities {
		c.Communities = append(c.Communities, s.Reveal())
	}
	c.Users = append(c.Users, t.V3Users...)
	for _, d := range devices {
		if ip := net.ParseIP(d.Address); ip != nil {
			c.Devices[ip.String()] = d.Name
		} else if d.Address != "" {
			c.Devices[d.Address] = d.Name
		}
	}
	return c
}
