package discovery

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

// OIDs of the system group and of the MIBs that tell device classes apart.
const (
	oidSysDescr     = "1.3.6.1.2.1.1.1.0"
	oidSysObjectID  = "1.3.6.1.2.1.1.2.0"
	oidSysName      = "1.3.6.1.2.1.1.5.0"
	oidIfNumber     = "1.3.6.1.2.1.2.1.0"
	oidIPForwarding = "1.3.6.1.2.1.4.1.0"
	oidBridgePorts  = "1.3.6.1.2.1.17.1.2.0"
)

// mibProbes are subtrees asked with one GETNEXT: the agent has the MIB when
// the next OID is still inside it.
var mibProbes = []struct{ name, root string }{
	{"printer", "1.3.6.1.2.1.43"},            // Printer-MIB
	{"ups", "1.3.6.1.2.1.33"},                // UPS-MIB
	{"host_resources", "1.3.6.1.2.1.25.2.3"}, // hrStorageTable
	{"apc_ups", "1.3.6.1.4.1.318.1.1.1"},     // PowerNet-MIB upsIdent
	{"apc_pdu", "1.3.6.1.4.1.318.1.1.12"},    // PowerNet-MIB rPDU
	{"apc_pdu2", "1.3.6.1.4.1.318.1.1.26"},   // PowerNet-MIB rPDU2
}

// snmpSystem asks ip's agent for its system group, which class MIBs it
// has and its ENTITY-MIB model, serial and firmware: two requests (a GET,
// a GETNEXT), each waiting for a token.
func snmpSystem(ctx context.Context, o Options, lim *limiter, ip netip.Addr) (*System, error) {
	g, err := session(ctx, o.SNMP, ip)
	if err != nil {
		return nil, err
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("snmp %s: %w", ip, err)
	}
	defer g.Conn.Close()
	if err := lim.wait(ctx); err != nil {
		return nil, err
	}
	pkt, err := g.Get([]string{oidSysDescr, oidSysObjectID, oidSysName, oidIfNumber, oidIPForwarding, oidBridgePorts})
	if err != nil {
		return nil, fmt.Errorf("snmp get %s: %w", ip, err)
	}
	s := &System{Enterprise: -1}
	for _, v := range pkt.Variables {
		switch strings.TrimPrefix(v.Name, ".") {
		case oidSysDescr:
			s.Descr = clean(text(v), 200)
		case oidSysObjectID:
			s.ObjectID = strings.TrimPrefix(text(v), ".")
			s.Enterprise = enterprise(s.ObjectID)
		case oidSysName:
			s.Name = clean(text(v), 100)
		case oidIfNumber:
			s.Interfaces = intOf(v)
		case oidIPForwarding:
			s.Forwarding = intOf(v) == 1
		case oidBridgePorts:
			s.BridgePorts = intOf(v)
			if s.BridgePorts > 0 {
				s.MIBs = append(s.MIBs, "bridge")
			}
		}
	}
	if s.Descr == "" && s.ObjectID == "" {
		return nil, fmt.Errorf("snmp %s: no system group", ip)
	}
	if err := lim.wait(ctx); err != nil {
		return s, nil
	}
	roots := make([]string, len(mibProbes), len(mibProbes)+len(entityColumns))
	for i, m := range mibProbes {
		roots[i] = m.root
	}
	// The same request reads the first ENTITY-MIB row (the chassis, on
	// most agents): model, serial, firmware and software revisions.
	for _, c := range entityColumns {
		roots = append(roots, c.root)
	}
	if next, err := g.GetNext(roots); err == nil && len(next.Variables) == len(roots) {
		for i, v := range next.Variables {
			name := strings.TrimPrefix(v.Name, ".")
			if v.Type == gosnmp.EndOfMibView || !strings.HasPrefix(name, roots[i]+".") {
				continue
			}
			if i < len(mibProbes) {
				s.MIBs = append(s.MIBs, strings.TrimSuffix(mibProbes[i].name, "2"))
				continue
			}
			if t := clean(text(v), 100); t != "" {
				*entityColumns[i-len(mibProbes)].field(s) = t
			}
		}
		if s.Firmware == "" {
			s.Firmware = s.software
		}
	}
	if s.Has("bridge") || s.Forwarding {
		s.Neighbours = lldpNeighbours(ctx, g, lim)
		if s.Enterprise == 9 { // Cisco: CDP too
			s.Neighbours = append(s.Neighbours, cdpNeighbours(ctx, g, lim)...)
		}
	}
	return s, nil
}

// entityColumns are the ENTITY-MIB entPhysicalTable columns a sweep reads.
var entityColumns = []struct {
	root  string
	field func(*System) *string
}{
	{"1.3.6.1.2.1.47.1.1.1.1.13", func(s *System) *string { return &s.Model }},    // entPhysicalModelName
	{"1.3.6.1.2.1.47.1.1.1.1.11", func(s *System) *string { return &s.Serial }},   // entPhysicalSerialNum
	{"1.3.6.1.2.1.47.1.1.1.1.9", func(s *System) *string { return &s.Firmware }},  // entPhysicalFirmwareRev
	{"1.3.6.1.2.1.47.1.1.1.1.10", func(s *System) *string { return &s.software }}, // entPhysicalSoftwareRev
}

func text(v gosnmp.SnmpPDU) string {
	switch x := v.Value.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	}
	return ""
}

func intOf(v gosnmp.SnmpPDU) int {
	switch v.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		return int(gosnmp.ToBigInt(v.Value).Int64())
	}
	return 0
}

// session builds a gosnmp session from the site's credentials; a sweep
// sends each request once (no retries: the rate ceiling counts packets).
func session(ctx context.Context, c *checks.SNMP, ip netip.Addr) (*gosnmp.GoSNMP, error) {
	g := &gosnmp.GoSNMP{Target: ip.String(), Port: uint16(c.Port), Context: ctx, Timeout: c.Timeout, Retries: 0,
		MaxOids: 60, Transport: "udp"}
	switch c.Version {
	case "1":
		g.Version, g.Community = gosnmp.Version1, string(c.Community)
	case "2c", "":
		g.Version, g.Community = gosnmp.Version2c, string(c.Community)
	case "3":
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.ContextName = c.Context
		up := &gosnmp.UsmSecurityParameters{UserName: c.User,
			AuthenticationPassphrase: string(c.AuthPassword), PrivacyPassphrase: string(c.PrivPassword)}
		auth := map[string]gosnmp.SnmpV3AuthProtocol{"": gosnmp.NoAuth, "MD5": gosnmp.MD5, "SHA": gosnmp.SHA,
			"SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512}
		priv := map[string]gosnmp.SnmpV3PrivProtocol{"": gosnmp.NoPriv, "DES": gosnmp.DES, "AES": gosnmp.AES,
			"AES192": gosnmp.AES192, "AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C}
		var ok1, ok2 bool
		up.AuthenticationProtocol, ok1 = auth[c.AuthProtocol]
		up.PrivacyProtocol, ok2 = priv[c.PrivProtocol]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("unknown SNMPv3 protocol %q/%q", c.AuthProtocol, c.PrivProtocol)
		}
		g.SecurityParameters = up
		switch c.SecurityLevel {
		case "authPriv":
			g.MsgFlags = gosnmp.AuthPriv
		case "authNoPriv":
			g.MsgFlags = gosnmp.AuthNoPriv
		default:
			g.MsgFlags = gosnmp.NoAuthNoPriv
		}
	default:
		return nil, fmt.Errorf("unknown SNMP version %q", c.Version)
	}
	return g, nil
}
