package discovery

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Neighbour states (linux/neighbour.h).
const (
	nudIncomplete = 0x01
	nudReachable  = 0x02
	nudStale      = 0x04
	nudDelay      = 0x08
	nudProbe      = 0x10
	nudFailed     = 0x20
	nudNoARP      = 0x40
	nudPermanent  = 0x80
)

// readNeighbours reads the kernel's IPv4 neighbour (ARP) table over
// netlink: unlike /proc/net/arp it says whether an entry was confirmed
// just now (reachable) or is an old memory (stale), which tells a host
// that answers ARP from one that left.
func readNeighbours() (map[netip.Addr]Neighbour, error) { return readNeighbourTable(syscall.AF_INET) }

// readNeighbours6 reads the IPv6 neighbour (NDP) table.
func readNeighbours6() (map[netip.Addr]Neighbour, error) { return readNeighbourTable(syscall.AF_INET6) }

func readNeighbourTable(family int) (map[netip.Addr]Neighbour, error) {
	b, err := syscall.NetlinkRIB(syscall.RTM_GETNEIGH, family)
	if err != nil {
		return nil, fmt.Errorf("reading the neighbour table: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("parsing the neighbour table: %w", err)
	}
	out := map[netip.Addr]Neighbour{}
	now := time.Now()
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWNEIGH || len(m.Data) < 12 {
			continue
		}
		state := binary.NativeEndian.Uint16(m.Data[8:10])
		var n Neighbour
		n.State = stateName(state)
		n.Confirmed = state&(nudPermanent|nudNoARP) != 0
		n.Pending = state&(nudDelay|nudProbe) != 0
		attrs := m.Data[12:]
		for len(attrs) >= 4 {
			l := int(binary.NativeEndian.Uint16(attrs[0:2]))
			typ := binary.NativeEndian.Uint16(attrs[2:4])
			if l < 4 || l > len(attrs) {
				break
			}
			val := attrs[4:l]
			switch typ {
			case 1: // NDA_DST
				if a, ok := netip.AddrFromSlice(val); ok {
					n.IP = a.Unmap()
				}
			case 2: // NDA_LLADDR
				if len(val) == 6 {
					n.MAC = net.HardwareAddr(val).String()
				}
			case 3: // NDA_CACHEINFO: ndm_confirmed, in clock ticks (USER_HZ, 100/s)
				if len(val) >= 4 && state&nudReachable != 0 {
					n.ConfirmedAt = now.Add(-time.Duration(binary.NativeEndian.Uint32(val[0:4])) * 10 * time.Millisecond)
				}
			}
			attrs = attrs[min((l+3)&^3, len(attrs)):]
		}
		if n.IP.IsValid() && state&(nudFailed|nudIncomplete) == 0 && n.MAC != "" && n.MAC != "00:00:00:00:00:00" {
			out[n.IP] = n
		}
	}
	return out, nil
}

func stateName(s uint16) string {
	switch {
	case s&nudReachable != 0:
		return "reachable"
	case s&nudStale != 0:
		return "stale"
	case s&nudDelay != 0:
		return "delay"
	case s&nudProbe != 0:
		return "probe"
	case s&nudPermanent != 0:
		return "permanent"
	case s&nudNoARP != 0:
		return "noarp"
	case s&nudFailed != 0:
		return "failed"
	case s&nudIncomplete != 0:
		return "incomplete"
	}
	return "none"
}
