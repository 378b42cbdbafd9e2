package checks

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func init() {
	Register(Kind{Name: "dns", Summary: "resolve a name against a chosen DNS server, expected answers, response time", NeedsTarget: true, New: newDNS})
}

// DNS asks a DNS server for a name and checks the answer.
type DNS struct {
	name   string
	qtype  uint16
	server string
	o      dnsOptions
}

var _ Checker = (*DNS)(nil)

type dnsOptions struct {
	// Server is host:port (port 53 if left out); default the first
	// nameserver in /etc/resolv.conf.
	Server     string   `yaml:"server"`
	Type       string   `yaml:"type"`
	Expect     []string `yaml:"expect"`
	Protocol   string   `yaml:"protocol"`
	WarningMS  float64  `yaml:"warning_ms"`
	CriticalMS float64  `yaml:"critical_ms"`
}

var dnsTypes = map[string]uint16{"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CNAME": dns.TypeCNAME, "MX": dns.TypeMX, "TXT": dns.TypeTXT, "PTR": dns.TypePTR, "NS": dns.TypeNS, "SRV": dns.TypeSRV, "SOA": dns.TypeSOA}

func newDNS(s Spec) (Checker, error) {
	d := &DNS{o: dnsOptions{Type: "A", Protocol: "udp"}}
	if err := s.Options.Decode(&d.o); err != nil {
		return nil, err
	}
	t, ok := dnsTypes[strings.ToUpper(d.o.Type)]
	if !ok {
		return nil, &FieldError{Field: "options.type", Msg: fmt.Sprintf("%q is not one of A, AAAA, CNAME, MX, TXT, PTR, NS, SRV, SOA", d.o.Type)}
	}
	d.qtype = t
	if d.o.Protocol != "udp" && d.o.Protocol != "tcp" {
		return nil, &FieldError{Field: "options.protocol", Msg: fmt.Sprintf("%q is not udp or tcp", d.o.Protocol)}
	}
	d.name = dns.Fqdn(s.Target)
	if _, ok := dns.IsDomainName(d.name); !ok {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not a domain name", s.Target)}
	}
	if d.qtype == dns.TypePTR {
		if rev, err := dns.ReverseAddr(s.Target); err == nil {
			d.name = rev
		}
	}
	if d.o.Server != "" {
		d.server = d.o.Server
		if _, _, err := net.SplitHostPort(d.server); err != nil {
			d.server = net.JoinHostPort(d.server, "53")
		}
	}
	return d, nil
}

func systemResolver() (string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cc.Servers) == 0 {
		if err == nil {
			err = fmt.Errorf("no nameserver line")
		}
		return "", fmt.Errorf("no DNS server configured (set options.server): /etc/resolv.conf: %v", err)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// Check sends one query.
func (d *DNS) Check(ctx context.Context) Result {
	start := time.Now()
	server := d.server
	if server == "" {
		var err error
		if server, err = systemResolver(); err != nil {
			return Result{Time: start, Status: Unknown, Detail: err.Error()}
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(d.name, d.qtype)
	m.RecursionDesired = true
	c := &dns.Client{Net: d.o.Protocol}
	in, rtt, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: fmt.Sprintf("%s via %s: %s", strings.TrimSuffix(d.name, "."), server, netReason(err))}
	}
	r := Result{Time: start, Status: OK, Latency: rtt}.WithValue(ms(rtt))
	if in.Rcode != dns.RcodeSuccess {
		r.Status = Critical
		r.Detail = fmt.Sprintf("%s %s via %s: %s", strings.TrimSuffix(d.name, "."), dns.TypeToString[d.qtype], server, dns.RcodeToString[in.Rcode])
		return r
	}
	var answers []string
	for _, rr := range in.Answer {
		if rr.Header().Rrtype != d.qtype {
			continue
		}
		answers = append(answers, rrValue(rr))
	}
	if len(answers) == 0 {
		r.Status = Critical
		r.Detail = fmt.Sprintf("%s %s via %s: no answer", strings.TrimSuffix(d.name, "."), dns.TypeToString[d.qtype], server)
		return r
	}
	var missing []string
	for _, want := range d.o.Expect {
		found := false
		for _, a := range answers {
			if strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(want, ".")) {
				found = true
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	r.Detail = fmt.Sprintf("%s %s = %s in %s", strings.TrimSuffix(d.name, "."), dns.TypeToString[d.qtype], strings.Join(answers, ", "), fmtMS(rtt))
	if len(missing) > 0 {
		r.Status = Critical
		r.Detail += fmt.Sprintf("; expected %s missing", strings.Join(missing, ", "))
	}
	if d.o.CriticalMS > 0 && ms(rtt) > d.o.CriticalMS {
		r.Status = Worst(r.Status, Critical)
	} else if d.o.WarningMS > 0 && ms(rtt) > d.o.WarningMS {
		r.Status = Worst(r.Status, Warning)
	}
	return r
}

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
