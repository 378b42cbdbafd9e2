package discovery

import (
	"net"
	"net/netip"
	"slices"
)

// ConnectedSubnets are the IPv4 subnets this machine has an address on
// (loopback and link-local left out, each at most a /16 around the
// address): what the box suggests a technician enables. Suggesting sends
// nothing.
func ConnectedSubnets() []netip.Prefix {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, _ := ifc.Addrs()
		for _, a := range as {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			bits, _ := n.Mask.Size()
			if !ip.Is4() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || bits > 30 {
				continue
			}
			p := netip.PrefixFrom(ip, max(bits, 16)).Masked()
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}
