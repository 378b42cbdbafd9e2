package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// An IPv6 /64 cannot be swept address by address. On the link that
// carries the swept IPv4 subnet, the box instead sends one ICMPv6 echo to
// the all-nodes group (ff02::1) from each of its IPv6 addresses there
// (link-local and global: hosts answer from the address that matches),
// one unicast echo to each host that answered (so the kernel resolves its
// MAC over NDP), and reads the kernel's IPv6 neighbour (NDP) table. The
// addresses are matched to the IPv4 hosts by MAC. Every echo takes a
// token of the sweep's limiter. The packets stay on that link (ff02::1 is
// link-scoped).

// linkOf is the interface with an IPv4 address in p, and its IPv6
// addresses (nil when p is not on a link of this machine).
func linkOf(p netip.Prefix) (*net.Interface, []netip.Addr) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, nil
	}
	for i := range ifs {
		ifc := &ifs[i]
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, _ := ifc.Addrs()
		on := false
		var v6 []netip.Addr
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
			if ip.Is4() && p.Contains(ip) {
				on = true
			}
			if ip.Is6() && !ip.Is4In6() {
				v6 = append(v6, ip)
			}
		}
		if on {
			return ifc, v6
		}
	}
	return nil, nil
}

// echo6 sends one ICMPv6 echo from src to dst on ifc and returns the
// addresses that answered within timeout.
func echo6(ctx context.Context, ifc *net.Interface, src, dst netip.Addr, timeout time.Duration, privileged *bool) ([]netip.Addr, error) {
	zone := ""
	if src.IsLinkLocalUnicast() {
		zone = ifc.Name
	}
	var c *icmp.PacketConn
	var err error
	for _, network := range []string{"udp6", "ip6:ipv6-icmp"} {
		if privileged != nil && *privileged != (network == "ip6:ipv6-icmp") {
			continue
		}
		if c, err = icmp.ListenPacket(network, src.WithZone(zone).String()); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ICMPv6 socket on %s: %w", src, err)
	}
	defer c.Close()
	if dst.IsMulticast() {
		c.IPv6PacketConn().SetMulticastInterface(ifc)
		c.IPv6PacketConn().SetMulticastHopLimit(1)
	}
	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("outpost discovery")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return nil, err
	}
	var to net.Addr = &net.UDPAddr{IP: dst.AsSlice(), Zone: ifc.Name}
	if c.LocalAddr().Network() != "udp" {
		to = &net.IPAddr{IP: dst.AsSlice(), Zone: ifc.Name}
	}
	if _, err := c.WriteTo(b, to); err != nil {
		return nil, fmt.Errorf("ICMPv6 echo to %s: %w", dst, err)
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetReadDeadline(deadline)
	var out []netip.Addr
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			return out, nil // the deadline
		}
		m, err := icmp.ParseMessage(58, buf[:n])
		if err != nil || m.Type != ipv6.ICMPTypeEchoReply {
			continue
		}
		var ip net.IP
		switch a := peer.(type) {
		case *net.UDPAddr:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if a, ok := netip.AddrFromSlice(ip); ok && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
}

// sweep6 finds the IPv6 addresses of the hosts on p's link, by MAC. A
// subnet that is not on a link of this machine (behind a router) has
// none to find.
func sweep6(ctx context.Context, o Options, lim *limiter, p netip.Prefix) (map[string][]netip.Addr, []string) {
	ifc, own := linkOf(p)
	if ifc == nil || len(own) == 0 {
		return nil, nil
	}
	var notes []string
	answered := map[netip.Addr]bool{}
	allNodes := netip.MustParseAddr("ff02::1")
	for _, src := range own {
		if err := lim.wait(ctx); err != nil {
			return nil, notes
		}
		got, err := echo6(ctx, ifc, src, allNodes, o.Timeout, o.Privileged)
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		for _, a := range got {
			if !slices.Contains(own, a) {
				answered[a] = true
			}
		}
	}
	neigh, err := o.Neighbours6()
	if err != nil {
		notes = append(notes, err.Error())
		return nil, notes
	}
	// A host that answered but that the kernel has not resolved yet gets
	// a unicast echo: resolving it is NDP's job.
	src := func(a netip.Addr) netip.Addr {
		for _, s := range own {
			if s.IsLinkLocalUnicast() == a.IsLinkLocalUnicast() {
				return s
			}
		}
		return own[0]
	}
	again := false
	for a := range answered {
		if _, ok := neigh[a]; ok {
			continue
		}
		if err := lim.wait(ctx); err != nil {
			return nil, notes
		}
		echo6(ctx, ifc, src(a), a, o.Timeout, o.Privileged)
		again = true
	}
	if again {
		if n, err := o.Neighbours6(); err == nil {
			neigh = n
		}
	}
	byMAC := map[string][]netip.Addr{}
	for a := range answered {
		if n, ok := neigh[a]; ok && n.MAC != "" {
			byMAC[n.MAC] = append(byMAC[n.MAC], a.WithZone(""))
		}
	}
	for m := range byMAC {
		slices.SortFunc(byMAC[m], func(a, b netip.Addr) int { return a.Compare(b) })
	}
	return byMAC, notes
}
