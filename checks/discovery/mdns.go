package discovery

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
)

// mDNS answers (passive-style hints, link-scoped): one DNS-SD service
// enumeration query ("_services._dns-sd._udp.local", RFC 6763 §9) to
// 224.0.0.251:5353 on the swept subnet's link, from an ordinary port so
// responders answer by unicast (RFC 6762 §6.7, a legacy query). Each
// responder's service types and host name become evidence and clues.
// One probe, counted by the limiter; the wait overlaps the IPv4 echoes.

// mdnsServiceHints are DNS-SD service types that mostly mean one class.
var mdnsServiceHints = []struct{ service, class string }{
	{"_ipp._tcp", "printer"}, {"_ipps._tcp", "printer"}, {"_pdl-datastream._tcp", "printer"}, {"_printer._tcp", "printer"},
	{"_scanner._tcp", "printer"}, {"_uscan._tcp", "printer"},
	{"_workstation._tcp", "workstation"},
	{"_smb._tcp", "nas"}, {"_afpovertcp._tcp", "nas"}, {"_adisk._tcp", "nas"},
	{"_googlecast._tcp", "iot"}, {"_airplay._tcp", "iot"}, {"_raop._tcp", "iot"}, {"_hap._tcp", "iot"}, {"_spotify-connect._tcp", "iot"},
	{"_sip._udp", "phone"},
	{"_axis-video._tcp", "camera"}, {"_rtsp._tcp", "camera"},
}

// MDNSAnswer is what one host said to the service enumeration.
type MDNSAnswer struct {
	Services []string `json:"services,omitempty"`
	// Name is a host name from its answer's address records.
	Name string `json:"name,omitempty"`
}

// mdnsQuery sends the enumeration on p's link and collects the answers
// by source address for timeout.
func mdnsQuery(ctx context.Context, o Options, lim *limiter, p netip.Prefix) (map[netip.Addr]*MDNSAnswer, error) {
	ifc, _ := linkOf(p)
	if ifc == nil {
		return nil, nil
	}
	var src netip.Addr
	as, _ := ifc.Addrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && p.Contains(ip.Unmap()) {
				src = ip.Unmap()
			}
		}
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src.AsSlice()})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Out of the subnet's interface, link-scoped: mDNS wants TTL 255 and
	// responders drop what came through a router.
	pc := ipv4.NewPacketConn(c)
	pc.SetMulticastInterface(ifc)
	pc.SetMulticastTTL(255)
	pc.SetMulticastLoopback(false)
	name, _ := dnsmessage.NewName("_services._dns-sd._udp.local.")
	q := dnsmessage.Message{Header: dnsmessage.Header{ID: 0x4f50}, Questions: []dnsmessage.Question{{Name: name, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET}}}
	b, err := q.Pack()
	if err != nil {
		return nil, err
	}
	if err := lim.wait(ctx); err != nil {
		return nil, err
	}
	if _, err := c.WriteToUDP(b, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetReadDeadline(deadline)
	out := map[netip.Addr]*MDNSAnswer{}
	buf := make([]byte, 9000)
	for len(out) < 1024 {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			break // the deadline
		}
		peer, ok := netip.AddrFromSlice(from.IP)
		if !ok || !p.Contains(peer.Unmap()) {
			continue
		}
		ans := out[peer.Unmap()]
		if ans == nil {
			ans = &MDNSAnswer{}
		}
		if parseMDNS(buf[:n], ans) {
			out[peer.Unmap()] = ans
		}
	}
	for _, a := range out {
		slices.Sort(a.Services)
	}
	return out, nil
}

// parseMDNS adds what one mDNS response says (service types, a host
// name) to ans; false for a packet that is not a DNS response.
func parseMDNS(b []byte, ans *MDNSAnswer) bool {
	var m dnsmessage.Message
	if m.Unpack(b) != nil || !m.Header.Response {
		return false
	}
	for _, rr := range append(m.Answers, m.Additionals...) {
		switch body := rr.Body.(type) {
		case *dnsmessage.PTRResource:
			svc := strings.TrimSuffix(strings.TrimSuffix(body.PTR.String(), "."), ".local")
			if svc = clean(svc, 64); svc != "" && !slices.Contains(ans.Services, svc) && len(ans.Services) < 32 {
				ans.Services = append(ans.Services, svc)
			}
		case *dnsmessage.AResource:
			if ans.Name == "" {
				ans.Name = clean(strings.TrimSuffix(rr.Header.Name.String(), "."), 100)
			}
		}
	}
	return true
}
