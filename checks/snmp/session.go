// Package snmp polls devices over SNMP v1/v2c/v3 and turns what they say
// into Outpost check results: the snmp_* check kinds (registered into the
// checks registry in init), the probe behind `outpost snmp probe`, and the
// trap receiver. Sessions are set up in one place (Dial) and pooled per
// device by a Poller, which the daemon hands the kinds (checks.Deps) and
// snmp_set writes through, so the checks of one device share one session
// and one walk per poll.
package snmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

// Target is how to reach one device over SNMP: its name and address, and
// the SNMP access (credentials, transport) of the site vocabulary, whose
// defaults and validation are the config's.
type Target struct {
	// Name identifies the device in the Poller; sessions and cached walks
	// are shared by every check naming the same device.
	Name    string
	Address string
	checks.SNMP
}

// AuthProtocols maps the config names of SNMPv3 authentication protocols.
var AuthProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224,
	"SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

// PrivProtocols maps the config names of SNMPv3 privacy protocols. The
// "C" variants are the Cisco (Reeder draft) key extension for AES-192/256,
// which many Cisco and net-snmp builds use instead of Blumenthal's.
var PrivProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES192": gosnmp.AES192,
	"AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
}

// SecurityLevels maps the config names of SNMPv3 security levels.
var SecurityLevels = map[string]gosnmp.SnmpV3MsgFlags{
	"noAuthNoPriv": gosnmp.NoAuthNoPriv, "authNoPriv": gosnmp.AuthNoPriv, "authPriv": gosnmp.AuthPriv,
}

// Device is t as a configured device.
func (t Target) Device() checks.Device {
	s := t.SNMP
	return checks.Device{Name: t.Name, Address: t.Address, SNMP: &s}
}

// WithDefaults fills unset fields with the defaults (checks.SNMP's).
func (t Target) WithDefaults() Target {
	t.SNMP.ApplyDefaults()
	return t
}

// Validate reports the first thing wrong with t, naming the field. t is
// judged as it is: apply WithDefaults first to fill what was left out.
func (t Target) Validate() error {
	if t.Address == "" {
		return errors.New("address is required")
	}
	return t.SNMP.Err()
}

// key identifies the target's settings: a device whose address or
// credentials change gets fresh sessions.
func (t Target) key() string {
	return strings.Join([]string{t.Name, t.Address, strconv.Itoa(t.Port), t.Version, t.Community.Reveal(), t.User,
		t.SecurityLevel, t.AuthProtocol, t.AuthPassword.Reveal(), t.PrivProtocol, t.PrivPassword.Reveal(), t.Context,
		t.Timeout.String(), strconv.Itoa(t.Retries), strconv.Itoa(t.MaxRepetitions), strconv.Itoa(t.MaxConcurrency)}, "\x00")
}

// usm is the SNMPv3 user of s (v3 access, validated) in gosnmp's terms:
// sessions send as it, the trap receiver accepts it.
func usm(s checks.SNMP) (gosnmp.SnmpV3MsgFlags, *gosnmp.UsmSecurityParameters) {
	lvl := SecurityLevels[s.SecurityLevel]
	u := &gosnmp.UsmSecurityParameters{UserName: s.User, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	if lvl >= gosnmp.AuthNoPriv {
		u.AuthenticationProtocol, u.AuthenticationPassphrase = AuthProtocols[s.AuthProtocol], s.AuthPassword.Reveal()
	}
	if lvl == gosnmp.AuthPriv {
		u.PrivacyProtocol, u.PrivacyPassphrase = PrivProtocols[s.PrivProtocol], s.PrivPassword.Reveal()
	}
	return lvl, u
}

// Session is one open SNMP session to a device. It is not safe for
// concurrent use; the Poller hands each one to a single caller at a time.
type Session struct {
	t Target
	g *gosnmp.GoSNMP
	// sent counts request packets put on the wire, retries and v3
	// discovery included.
	sent *atomic.Int64
}

// Dial opens a session to t, which must be valid (Validate) with its
// defaults applied (WithDefaults). It is the one place an SNMP session
// is set up: the check kinds (through a Poller), the probe and snmp_set
// use it. No packet is sent yet (UDP), so an unreachable device shows up
// at the first request.
func Dial(t Target) (*Session, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	g := &gosnmp.GoSNMP{
		Target:             t.Address,
		Port:               uint16(t.Port),
		Transport:          "udp",
		Community:          t.Community.Reveal(),
		Timeout:            t.Timeout,
		Retries:            t.Retries,
		MaxOids:            gosnmp.MaxOids,
		MaxRepetitions:     uint32(t.MaxRepetitions),
		ExponentialTimeout: false,
		Context:            context.Background(),
	}
	switch t.Version {
	case "1":
		g.Version = gosnmp.Version1
	case "2c":
		g.Version = gosnmp.Version2c
	case "3":
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.ContextName = t.Context
		g.MsgFlags, g.SecurityParameters = usm(t.SNMP)
	}
	s := &Session{t: t, g: g, sent: new(atomic.Int64)}
	g.OnSent = func(*gosnmp.GoSNMP) { s.sent.Add(1) }
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("opening SNMP session to %s: %w", net.JoinHostPort(t.Address, strconv.Itoa(t.Port)), err)
	}
	return s, nil
}

// Close releases the socket.
func (s *Session) Close() error {
	if s.g.Conn == nil {
		return nil
	}
	return s.g.Conn.Close()
}

// Sent returns how many request packets this session has sent.
func (s *Session) Sent() int64 { return s.sent.Load() }

// arm binds the next request to ctx and shrinks the per-try timeout so
// that all tries fit before ctx's deadline.
func (s *Session) arm(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.g.Context = ctx
	s.g.Timeout = s.t.Timeout
	if dl, ok := ctx.Deadline(); ok {
		per := time.Until(dl) / time.Duration(s.t.Retries+1)
		if per < s.g.Timeout {
			s.g.Timeout = max(per, time.Millisecond)
		}
	}
	return nil
}

// Get fetches the given OIDs in one request. Missing OIDs come back as
// PDUs of type NoSuchObject/NoSuchInstance (v2c/v3) or are dropped from
// the answer after a v1 noSuchName error.
func (s *Session) Get(ctx context.Context, oids ...string) ([]gosnmp.SnmpPDU, error) {
	if err := s.arm(ctx); err != nil {
		return nil, err
	}
	pkt, err := s.g.Get(oids)
	if err != nil {
		return nil, s.explain(ctx, err)
	}
	if pkt.Error == gosnmp.NoSuchName && s.g.Version == gosnmp.Version1 && len(oids) > 0 {
		// v1 fails the whole request for one missing OID: ask again
		// without it so the others still answer.
		bad := int(pkt.ErrorIndex) - 1
		if bad < 0 || bad >= len(oids) {
			return nil, nil
		}
		rest := append(append([]string{}, oids[:bad]...), oids[bad+1:]...)
		if len(rest) == 0 {
			return []gosnmp.SnmpPDU{{Name: oids[bad], Type: gosnmp.NoSuchObject}}, nil
		}
		got, err := s.Get(ctx, rest...)
		return append(got, gosnmp.SnmpPDU{Name: oids[bad], Type: gosnmp.NoSuchObject}), err
	}
	if pkt.Error != gosnmp.NoError {
		return nil, fmt.Errorf("agent answered %s", pkt.Error)
	}
	return pkt.Variables, nil
}

// Set writes the given values in one request and checks the agent's
// answer (an error status names the variable it is about).
func (s *Session) Set(ctx context.Context, pdus ...gosnmp.SnmpPDU) error {
	if err := s.arm(ctx); err != nil {
		return err
	}
	pkt, err := s.g.Set(pdus)
	if err != nil {
		return s.explain(ctx, err)
	}
	if pkt.Error != gosnmp.NoError {
		return fmt.Errorf("agent answered %s", pkt.Error)
	}
	return nil
}

// maxWalkRequests stops a walk of an agent that never ends its table
// (a broken agent that keeps inventing OIDs); 20,000 requests of 25 rows
// is far beyond any real device.
const maxWalkRequests = 20000

// Table walks the given column (or subtree) OIDs together, asking for all
// of them in each GETBULK (GETNEXT for v1), which needs far fewer packets
// than walking each subtree in turn. It returns each root's PDUs in OID
// order. A root the device does not have gives an empty slice. OIDs that
// do not increase (broken agents loop forever otherwise) are an error.
func (s *Session) Table(ctx context.Context, roots ...string) (map[string][]gosnmp.SnmpPDU, error) {
	type col struct {
		root, prefix, last string
		lastParsed         []uint32
		done               bool
	}
	cols := make([]*col, 0, len(roots))
	out := make(map[string][]gosnmp.SnmpPDU, len(roots))
	for _, r := range roots {
		r = normOID(r)
		if _, dup := out[r]; dup {
			continue
		}
		out[r] = nil
		p, err := parseOID(r)
		if err != nil {
			return nil, fmt.Errorf("walking %s: %w", r, err)
		}
		cols = append(cols, &col{root: r, prefix: r + ".", last: r, lastParsed: p})
	}
	// Ask for about four times MaxRepetitions values per answer in all, so a
	// many-column table does not need many small answers.
	reps := min(s.t.MaxRepetitions, max(1, s.t.MaxRepetitions*4/max(1, len(cols))))
	for req := 0; ; req++ {
		var active []*col
		for _, c := range cols {
			if !c.done {
				active = append(active, c)
			}
		}
		if len(active) == 0 {
			return out, nil
		}
		if req >= maxWalkRequests {
			return nil, fmt.Errorf("walking %s: gave up after %d requests (the agent never ends the table)", active[0].root, req)
		}
		if len(active) > gosnmp.MaxOids {
			active = active[:gosnmp.MaxOids]
		}
		oids := make([]string, len(active))
		for i, c := range active {
			oids[i] = c.last
		}
		if err := s.arm(ctx); err != nil {
			return nil, err
		}
		var pkt *gosnmp.SnmpPacket
		var err error
		if s.g.Version == gosnmp.Version1 {
			pkt, err = s.g.GetNext(oids)
		} else {
			pkt, err = s.g.GetBulk(oids, 0, uint32(reps))
		}
		if err != nil {
			return nil, fmt.Errorf("walking %s: %w", active[0].root, s.explain(ctx, err))
		}
		switch {
		case pkt.Error == gosnmp.NoSuchName && s.g.Version == gosnmp.Version1:
			// v1's end of MIB: the column at ErrorIndex is finished.
			i := int(pkt.ErrorIndex) - 1
			if i < 0 || i >= len(active) {
				i = 0
			}
			active[i].done = true
			continue
		case pkt.Error == gosnmp.TooBig && reps > 1:
			reps /= 2
			continue
		case pkt.Error != gosnmp.NoError:
			return nil, fmt.Errorf("walking %s: agent answered %s", active[0].root, pkt.Error)
		}
		if len(pkt.Variables) == 0 {
			return out, nil
		}
		// GETBULK answers are interleaved: row r, column c at r*n+c.
		n := len(active)
		progressed := false
		for i, v := range pkt.Variables {
			c := active[i%n]
			if c.done {
				continue
			}
			if v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance || !strings.HasPrefix(v.Name, c.prefix) {
				c.done = true
				continue
			}
			p, err := parseOID(v.Name)
			if err != nil {
				return nil, fmt.Errorf("walking %s: agent sent a bad OID: %w", c.root, err)
			}
			if compareOID(p, c.lastParsed) <= 0 {
				return nil, fmt.Errorf("walking %s: agent returned %s after %s (OIDs not increasing: broken agent)", c.root, v.Name, c.last)
			}
			out[c.root] = append(out[c.root], v)
			c.last, c.lastParsed = v.Name, p
			progressed = true
		}
		if !progressed {
			// Every remaining column ended in this answer, or the agent sent
			// nothing usable: either way the walk cannot move on.
			for _, c := range active {
				c.done = true
			}
		}
	}
}

// Walk walks one subtree.
func (s *Session) Walk(ctx context.Context, root string) ([]gosnmp.SnmpPDU, error) {
	m, err := s.Table(ctx, root)
	if err != nil {
		return nil, err
	}
	return m[normOID(root)], nil
}

// ErrTimeout is returned (wrapped) when a device does not answer: down,
// unreachable, firewalled, or silently dropping a wrong community.
var ErrTimeout = errors.New("no answer")

// explain turns gosnmp's errors into what a technician can act on.
func (s *Session) explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w from %s before the check's deadline (%v)", ErrTimeout, s.addr(), ctx.Err())
	}
	msg := err.Error()
	switch {
	case errors.Is(err, gosnmp.ErrWrongDigest) || strings.Contains(msg, "wrong digest") || strings.Contains(msg, "not authentic"):
		return fmt.Errorf("SNMPv3 authentication failed for user %q at %s (wrong auth password or protocol)", s.t.User, s.addr())
	case errors.Is(err, gosnmp.ErrUnknownUsername) || strings.Contains(msg, "unknown user"):
		return fmt.Errorf("SNMPv3 user %q is unknown to %s", s.t.User, s.addr())
	case errors.Is(err, gosnmp.ErrDecryption) || strings.Contains(msg, "decrypt"):
		return fmt.Errorf("SNMPv3 decryption failed for user %q at %s (wrong privacy password or protocol)", s.t.User, s.addr())
	case strings.Contains(msg, "timeout") || strings.Contains(msg, "request timeout") || errors.Is(err, gosnmp.ErrMaxRetriesExceeded):
		hint := "device down, wrong address/port, or wrong community"
		if s.t.Version == "3" {
			hint = "device down, wrong address/port, or wrong SNMPv3 credentials"
		}
		return fmt.Errorf("%w from %s after %d tries of %s (%s)", ErrTimeout, s.addr(), s.t.Retries+1, s.g.Timeout, hint)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%w from %s: port closed (connection refused)", ErrTimeout, s.addr())
	}
	return fmt.Errorf("%s: %w", s.addr(), err)
}

func (s *Session) addr() string {
	return net.JoinHostPort(s.t.Address, strconv.Itoa(s.t.Port))
}

func normOID(o string) string {
	o = strings.TrimSpace(o)
	if !strings.HasPrefix(o, ".") {
		o = "." + o
	}
	return o
}

func parseOID(o string) ([]uint32, error) {
	parts := strings.Split(strings.TrimPrefix(o, "."), ".")
	out := make([]uint32, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a numeric OID", o)
		}
		out[i] = uint32(v)
	}
	return out, nil
}

func compareOID(a, b []uint32) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}
