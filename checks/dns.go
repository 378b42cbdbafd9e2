package checks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func init() {
	Register(Kind{Name: "dns", Summary: "resolve a name against a chosen DNS server, expected answers, response time", NeedsTarget: true, New: newDNS})
}

// DNS asks one DNS server for a name and checks the answer. It talks to
// the server directly (not through the box's resolver stack) so that the
// result is that server's health, without caches in between.
type DNS struct {
	name   string
	qtype  uint16
	server string // host:port, or "" for the system resolver
	o      dnsOptions
}

var _ Checker = (*DNS)(nil)

type dnsOptions struct {
	// Server is host:port (port 53 if left out); default the first
	// nameserver in /etc/resolv.conf, read at every run.
	Server     string   `yaml:"server"`
	Type       string   `yaml:"type"`
	Expect     []string `yaml:"expect"`
	Protocol   string   `yaml:"protocol"`
	WarningMS  float64  `yaml:"warning_ms"`
	CriticalMS float64  `yaml:"critical_ms"`
}

// dnsTypeNames is the order error messages list the types in.
var dnsTypeNames = []string{"A", "AAAA", "CNAME", "MX", "TXT", "PTR", "NS", "SRV", "SOA"}

// resolvConf is where the system resolver is read from (a variable for tests).
var resolvConf = "/etc/resolv.conf"

func newDNS(s Spec, _ Deps) (Checker, error) {
	d := &DNS{o: dnsOptions{Type: "A", Protocol: "udp"}}
	if err := s.Options.Decode(&d.o); err != nil {
		return nil, err
	}
	typ := strings.ToUpper(d.o.Type)
	if !contains(dnsTypeNames, typ) {
		return nil, &FieldError{Field: "options.type", Msg: fmt.Sprintf("%q is not one of %s", d.o.Type, strings.Join(dnsTypeNames, ", "))}
	}
	d.qtype = dns.StringToType[typ]
	if d.o.Protocol != "udp" && d.o.Protocol != "tcp" {
		return nil, &FieldError{Field: "options.protocol", Msg: fmt.Sprintf("%q is not udp or tcp", d.o.Protocol)}
	}
	// For PTR an IP address is the natural target; it is turned into its
	// in-addr.arpa / ip6.arpa name here.
	if ip, err := netip.ParseAddr(s.Target); err == nil && d.qtype == dns.TypePTR {
		d.name, _ = dns.ReverseAddr(ip.String())
	} else {
		d.name = dns.Fqdn(s.Target)
		if _, ok := dns.IsDomainName(d.name); !ok || strings.ContainsAny(s.Target, " /:@") {
			return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not a domain name", s.Target)}
		}
	}
	for i, e := range d.o.Expect {
		if strings.TrimSpace(e) == "" {
			return nil, &FieldError{Field: fmt.Sprintf("options.expect[%d]", i), Msg: "is empty"}
		}
	}
	if d.o.Server != "" {
		srv, err := dnsServerAddr(d.o.Server)
		if err != nil {
			return nil, &FieldError{Field: "options.server", Msg: err.Error()}
		}
		d.server = srv
	}
	if err := checkMS(d.o.WarningMS, d.o.CriticalMS); err != nil {
		return nil, err
	}
	return d, nil
}

// dnsServerAddr accepts "host", "host:port", an IPv6 address with or
// without brackets, and returns host:port.
func dnsServerAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	if host == "" || strings.ContainsAny(host, " /@") {
		return "", fmt.Errorf("%q is not a host or host:port", s)
	}
	if err := checkPort(port); err != nil {
		return "", fmt.Errorf("%q: %s", s, err)
	}
	return net.JoinHostPort(host, port), nil
}

// systemResolver returns the first nameserver of /etc/resolv.conf. It is
// read at every run so a DHCP-changed resolver is followed.
func systemResolver() (string, error) {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return "", fmt.Errorf("no DNS server to ask (set options.server): %v", err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("no DNS server to ask (set options.server): no nameserver line in %s", resolvConf)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// Check sends one query (and again over TCP if the UDP answer was
// truncated, as a resolver would).
func (d *DNS) Check(ctx context.Context) Result {
	start := time.Now()
	server := d.server
	if server == "" {
		var err error
		if server, err = systemResolver(); err != nil {
			return Result{Time: start, Status: Unknown, Detail: err.Error()}
		}
	}
	name := strings.TrimSuffix(d.name, ".")
	typ := dns.TypeToString[d.qtype]
	q := new(dns.Msg)
	q.SetQuestion(d.name, d.qtype)
	q.RecursionDesired = true
	in, err := d.exchange(ctx, q, server, d.o.Protocol)
	if err == nil && in.Truncated && d.o.Protocol == "udp" {
		in, err = d.exchange(ctx, q, server, "tcp")
	}
	lat := Since(start)
	if err != nil {
		return Result{Time: start, Status: Critical, Latency: lat, Detail: fmt.Sprintf("%s %s via %s: %s", name, typ, server, netReason(err))}
	}
	r := Result{Time: start, Status: OK, Latency: lat}.WithValue(ms(lat))
	if in.Rcode != dns.RcodeSuccess {
		r.Status = Critical
		r.Detail = fmt.Sprintf("%s %s via %s: %s in %s", name, typ, server, dns.RcodeToString[in.Rcode], fmtMS(lat))
		return r
	}
	var answers []string
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == d.qtype {
			answers = append(answers, rrValue(rr))
		}
	}
	if len(answers) == 0 {
		r.Status = Critical
		r.Detail = fmt.Sprintf("%s %s via %s: no %s record in the answer (%s)", name, typ, server, typ, fmtMS(lat))
		return r
	}
	var missing []string
	for _, want := range d.o.Expect {
		found := false
		for _, a := range answers {
			if sameAnswer(a, want) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	r.Detail = fmt.Sprintf("%s %s = %s in %s", name, typ, strings.Join(answers, ", "), fmtMS(lat))
	if len(missing) > 0 {
		r.Status = Critical
		r.Detail += "; expected " + strings.Join(missing, ", ") + " missing"
	}
	if st := evalMS(ms(lat), d.o.WarningMS, d.o.CriticalMS); st != OK {
		r.Status = Worst(r.Status, st)
		r.Detail += " (slow)"
	}
	return r
}

func (d *DNS) exchange(ctx context.Context, q *dns.Msg, server, proto string) (*dns.Msg, error) {
	c := dns.Client{Net: proto}
	// The library's own 2 s default would cut a longer check timeout
	// short: the ctx deadline is the one limit.
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = max(time.Until(dl), time.Millisecond)
	}
	in, _, err := c.ExchangeContext(ctx, q, server)
	return in, err
}

// sameAnswer compares an answer with an expected value, ignoring case
// and the trailing dot of names.
func sameAnswer(got, want string) bool {
	return strings.EqualFold(strings.TrimSuffix(got, "."), strings.TrimSuffix(strings.TrimSpace(want), "."))
}

// rrValue is the part of a record a technician would write in expect.
func rrValue(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.A:
		return v.A.String()
	case *dns.AAAA:
		return v.AAAA.String()
	case *dns.CNAME:
		return v.Target
	case *dns.MX:
		return fmt.Sprintf("%d %s", v.Preference, v.Mx)
	case *dns.TXT:
		return strings.Join(v.Txt, "")
	case *dns.PTR:
		return v.Ptr
	case *dns.NS:
		return v.Ns
	case *dns.SRV:
		return fmt.Sprintf("%d %d %d %s", v.Priority, v.Weight, v.Port, v.Target)
	case *dns.SOA:
		return v.Ns
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}
