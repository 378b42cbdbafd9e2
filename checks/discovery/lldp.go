package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// LLDP neighbours, read from switches and routers over SNMP (LLDP-MIB,
// IEEE 802.1AB lldpRemTable): what each neighbour says it is (system
// name, description, enabled capabilities: bridge, router, telephone,
// access point ...), matched to the swept hosts by chassis MAC or
// management address. A passive hint: nothing is sent to the neighbours.

// LLDP-MIB columns of lldpRemEntry (index timeMark.localPort.index) and
// lldpRemManAddrIfSubtype (index ... .addrSubtype.addrLen.address).
const (
	oidLLDPRem          = "1.0.8802.1.1.2.1.4.1.1"
	oidLLDPChassisType  = oidLLDPRem + ".4"
	oidLLDPChassisID    = oidLLDPRem + ".5"
	oidLLDPPortID       = oidLLDPRem + ".7"
	oidLLDPSysName      = oidLLDPRem + ".9"
	oidLLDPSysDescr     = oidLLDPRem + ".10"
	oidLLDPCapsEnabled  = oidLLDPRem + ".12"
	oidLLDPManAddrIfSub = "1.0.8802.1.1.2.1.4.2.1.3"
	// maxLLDPRequests bounds the requests one switch's table costs.
	maxLLDPRequests = 16
	maxNeighbours   = 256
)

// LLDPNeighbour is one neighbour a switch reports over LLDP (or, on
// Cisco devices, CDP: Proto says which).
type LLDPNeighbour struct {
	Proto     string     `json:"proto"`
	LocalPort int        `json:"local_port"`
	MAC       string     `json:"mac,omitempty"`
	IP        netip.Addr `json:"ip,omitzero"`
	PortID    string     `json:"port_id,omitempty"`
	SysName   string     `json:"sys_name,omitempty"`
	SysDescr  string     `json:"sys_descr,omitempty"`
	Caps      []string   `json:"caps,omitempty"`
}

// LLDPSeen is what a switch's LLDP table says of a host.
type LLDPSeen struct {
	Switch netip.Addr `json:"switch"`
	LLDPNeighbour
}

// lldpCaps are the LLDP system capability bits, most significant first.
var lldpCaps = []string{"other", "repeater", "bridge", "access_point", "router", "telephone", "docsis", "station"}

// walkColumns reads whole table columns with GETBULK, each request
// waiting for a token, at most maxLLDPRequests requests.
func walkColumns(ctx context.Context, g *gosnmp.GoSNMP, lim *limiter, roots []string) map[string][]gosnmp.SnmpPDU {
	out := map[string][]gosnmp.SnmpPDU{}
	next := append([]string(nil), roots...)
	active := append([]string(nil), roots...)
	for req := 0; req < maxLLDPRequests && len(active) > 0; req++ {
		if lim.wait(ctx) != nil {
			return out
		}
		pkt, err := g.GetBulk(next, 0, 16)
		if err != nil || len(pkt.Variables) == 0 {
			return out
		}
		var nextA, nextN []string
		// Rows come interleaved: one varbind per column per repetition.
		last := map[string]string{}
		done := map[string]bool{}
		for i, v := range pkt.Variables {
			root := active[i%len(active)]
			name := strings.TrimPrefix(v.Name, ".")
			if v.Type == gosnmp.EndOfMibView || !strings.HasPrefix(name, root+".") {
				done[root] = true
				continue
			}
			if !done[root] && len(out[root]) < maxNeighbours {
				out[root] = append(out[root], v)
				last[root] = name
			}
		}
		for _, r := range active {
			if !done[r] && last[r] != "" && len(out[r]) < maxNeighbours {
				nextA, nextN = append(nextA, r), append(nextN, last[r])
			}
		}
		active, next = nextA, nextN
	}
	return out
}

// lldpNeighbours reads a switch's LLDP remote table.
func lldpNeighbours(ctx context.Context, g *gosnmp.GoSNMP, lim *limiter) []LLDPNeighbour {
	cols := walkColumns(ctx, g, lim, []string{oidLLDPChassisType, oidLLDPChassisID, oidLLDPPortID, oidLLDPSysName, oidLLDPSysDescr, oidLLDPCapsEnabled})
	if len(cols[oidLLDPChassisID]) == 0 {
		return nil
	}
	byIndex := map[string]*LLDPNeighbour{}
	var order []string
	get := func(idx string) *LLDPNeighbour {
		n := byIndex[idx]
		if n == nil {
			n = &LLDPNeighbour{Proto: "LLDP"}
			if parts := strings.Split(idx, "."); len(parts) == 3 {
				n.LocalPort, _ = strconv.Atoi(parts[1])
			}
			byIndex[idx] = n
			order = append(order, idx)
		}
		return n
	}
	chassisType := map[string]int{}
	for root, vs := range cols {
		for _, v := range vs {
			idx := strings.TrimPrefix(strings.TrimPrefix(v.Name, "."), root+".")
			n := get(idx)
			switch root {
			case oidLLDPChassisType:
				chassisType[idx] = intOf(v)
			case oidLLDPChassisID:
				if b, ok := v.Value.([]byte); ok && len(b) == 6 {
					n.MAC = net.HardwareAddr(b).String()
				}
			case oidLLDPPortID:
				n.PortID = clean(printable(v), 64)
			case oidLLDPSysName:
				n.SysName = clean(text(v), 100)
			case oidLLDPSysDescr:
				n.SysDescr = clean(text(v), 200)
			case oidLLDPCapsEnabled:
				if b, ok := v.Value.([]byte); ok && len(b) > 0 {
					for i, c := range lldpCaps {
						if b[0]&(0x80>>i) != 0 {
							n.Caps = append(n.Caps, c)
						}
					}
				}
			}
		}
	}
	for idx, t := range chassisType {
		if t != 4 { // only subtype macAddress(4) is a MAC
			byIndex[idx].MAC = ""
		}
	}
	// Management addresses: ...index.1(ipv4).4.a.b.c.d
	addrs := walkColumns(ctx, g, lim, []string{oidLLDPManAddrIfSub})
	for _, v := range addrs[oidLLDPManAddrIfSub] {
		parts := strings.Split(strings.TrimPrefix(strings.TrimPrefix(v.Name, "."), oidLLDPManAddrIfSub+"."), ".")
		if len(parts) == 9 && parts[3] == "1" && parts[4] == "4" {
			if a, err := netip.ParseAddr(strings.Join(parts[5:], ".")); err == nil {
				if n := byIndex[strings.Join(parts[:3], ".")]; n != nil {
					n.IP = a
				}
			}
		}
	}
	out := make([]LLDPNeighbour, 0, len(order))
	for _, idx := range order {
		out = append(out, *byIndex[idx])
	}
	return out
}

// CISCO-CDP-MIB cdpCacheTable columns (index ifIndex.deviceIndex).
const (
	oidCDPCache    = "1.3.6.1.4.1.9.9.23.1.2.1.1"
	oidCDPAddress  = oidCDPCache + ".4"
	oidCDPDeviceID = oidCDPCache + ".6"
	oidCDPPort     = oidCDPCache + ".7"
	oidCDPPlatform = oidCDPCache + ".8"
	oidCDPCaps     = oidCDPCache + ".9"
)

// cdpCaps are the CDP capability bits, least significant first.
var cdpCaps = []string{"router", "bridge", "bridge", "bridge", "station", "", "repeater", "telephone"}

// cdpNeighbours reads a Cisco device's CDP cache: no MACs, an IPv4
// address per neighbour.
func cdpNeighbours(ctx context.Context, g *gosnmp.GoSNMP, lim *limiter) []LLDPNeighbour {
	cols := walkColumns(ctx, g, lim, []string{oidCDPAddress, oidCDPDeviceID, oidCDPPort, oidCDPPlatform, oidCDPCaps})
	byIndex := map[string]*LLDPNeighbour{}
	var order []string
	for _, root := range []string{oidCDPAddress, oidCDPDeviceID, oidCDPPort, oidCDPPlatform, oidCDPCaps} {
		for _, v := range cols[root] {
			idx := strings.TrimPrefix(strings.TrimPrefix(v.Name, "."), root+".")
			n := byIndex[idx]
			if n == nil {
				n = &LLDPNeighbour{Proto: "CDP"}
				n.LocalPort, _ = strconv.Atoi(strings.SplitN(idx, ".", 2)[0])
				byIndex[idx] = n
				order = append(order, idx)
			}
			b, _ := v.Value.([]byte)
			switch root {
			case oidCDPAddress:
				if a, ok := netip.AddrFromSlice(b); ok && len(b) == 4 {
					n.IP = a
				}
			case oidCDPDeviceID:
				n.SysName = clean(text(v), 100)
			case oidCDPPort:
				n.PortID = clean(printable(v), 64)
			case oidCDPPlatform:
				n.SysDescr = clean(text(v), 200)
			case oidCDPCaps:
				if len(b) == 4 {
					bits := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
					for i, c := range cdpCaps {
						if c != "" && bits&(1<<i) != 0 && !slices.Contains(n.Caps, c) {
							n.Caps = append(n.Caps, c)
						}
					}
				}
			}
		}
	}
	out := make([]LLDPNeighbour, 0, len(order))
	for _, idx := range order {
		out = append(out, *byIndex[idx])
	}
	return out
}

// printable is an octet string as text when it is text, else as hex
// (port IDs are either).
func printable(v gosnmp.SnmpPDU) string {
	b, ok := v.Value.([]byte)
	if !ok {
		return text(v)
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			if len(b) == 6 {
				return net.HardwareAddr(b).String()
			}
			return fmt.Sprintf("%x", b)
		}
	}
	return string(b)
}

// lldpHints gives each host what the switches' LLDP tables say of it.
func lldpHints(hosts []*Host) {
	for _, sw := range hosts {
		if sw.SNMP == nil {
			continue
		}
		for _, n := range sw.SNMP.Neighbours {
			for _, h := range hosts {
				if h == sw || !(n.MAC != "" && n.MAC == h.MAC || n.IP.IsValid() && n.IP == h.IP) {
					continue
				}
				h.LLDP = append(h.LLDP, LLDPSeen{Switch: sw.IP, LLDPNeighbour: n})
			}
		}
	}
}
