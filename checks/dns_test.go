package checks_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"outpost/checks"
)

// acmeZone answers like a small site DNS server.
func acmeZone(stop <-chan struct{}) *dns.ServeMux {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return r
	}
	records := map[uint16][]dns.RR{
		dns.TypeA:    {rr("acme.test. 60 IN A 192.0.2.10"), rr("acme.test. 60 IN A 192.0.2.11")},
		dns.TypeAAAA: {rr("acme.test. 60 IN AAAA 2001:db8::10")},
		dns.TypeMX:   {rr("acme.test. 60 IN MX 10 mail.acme.test."), rr("acme.test. 60 IN MX 20 backup-mx.acme.test.")},
		dns.TypeTXT:  {rr(`acme.test. 60 IN TXT "v=spf1 mx -all"`)},
		dns.TypeNS:   {rr("acme.test. 60 IN NS ns1.acme.test.")},
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("acme.test.", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = records[q.Question[0].Qtype]
		w.WriteMsg(m)
	})
	mux.HandleFunc("www.acme.test.", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = []dns.RR{rr("www.acme.test. 60 IN CNAME acme.test.")}
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, records[dns.TypeA][0])
		}
		w.WriteMsg(m)
	})
	mux.HandleFunc("10.2.0.192.in-addr.arpa.", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = []dns.RR{rr("10.2.0.192.in-addr.arpa. 60 IN PTR acme.test.")}
		w.WriteMsg(m)
	})
	// Too big for UDP: the UDP answer is truncated and has no records,
	// only TCP carries them.
	mux.HandleFunc("big.acme.test.", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if w.RemoteAddr().Network() == "udp" {
			m.Truncated = true
		} else {
			m.Answer = []dns.RR{rr(`big.acme.test. 60 IN TXT "` + strings.Repeat("k", 200) + `" "full answer over tcp"`)}
		}
		w.WriteMsg(m)
	})
	mux.HandleFunc("broken.test.", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	mux.HandleFunc("hang.test.", func(w dns.ResponseWriter, q *dns.Msg) { <-stop })
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeNameError)
		w.WriteMsg(m)
	})
	return mux
}

// dnsServer serves acmeZone on one loopback port over UDP and TCP and
// returns host:port.
func dnsServer(t *testing.T, addr string) string {
	t.Helper()
	stop := make(chan struct{})
	mux := acmeZone(stop)
	// A free UDP port may be taken over TCP by another test: try a few.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if attempt == 20 || !strings.HasSuffix(addr, ":0") {
			t.Fatal(err)
		}
	}
	udp, tcp := &dns.Server{PacketConn: pc, Handler: mux}, &dns.Server{Listener: ln, Handler: mux}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { close(stop); udp.Shutdown(); tcp.Shutdown() })
	return pc.LocalAddr().String()
}

func TestDNS(t *testing.T) {
	server := dnsServer(t, "127.0.0.1:0")
	sec := time.Second
	cases := []struct {
		name, target, opts string
		timeout            time.Duration
		status             checks.Status
		detail             string
	}{
		{"A", "acme.test", "", sec, checks.OK, "acme.test A = 192.0.2.10, 192.0.2.11 in "},
		{"trailing dot", "acme.test.", "", sec, checks.OK, "acme.test A = 192.0.2.10"},
		{"A expected", "acme.test", "expect: [192.0.2.11, 192.0.2.10]", sec, checks.OK, "192.0.2.10"},
		{"A expected missing", "acme.test", "expect: [192.0.2.10, 192.0.2.99]", sec, checks.Critical, "; expected 192.0.2.99 missing"},
		{"AAAA", "acme.test", "type: AAAA, expect: ['2001:db8::10']", sec, checks.OK, "acme.test AAAA = 2001:db8::10"},
		{"MX", "acme.test", "type: mx, expect: ['10 mail.acme.test', '20 BACKUP-MX.acme.test.']", sec, checks.OK, "acme.test MX = 10 mail.acme.test., 20 backup-mx.acme.test."},
		{"TXT", "acme.test", "type: TXT, expect: ['v=spf1 mx -all']", sec, checks.OK, "TXT = v=spf1 mx -all"},
		{"NS", "acme.test", "type: NS", sec, checks.OK, "NS = ns1.acme.test."},
		{"CNAME", "www.acme.test", "type: CNAME, expect: [acme.test]", sec, checks.OK, "www.acme.test CNAME = acme.test."},
		{"A through a CNAME", "www.acme.test", "", sec, checks.OK, "www.acme.test A = 192.0.2.10"},
		{"PTR from an IP", "192.0.2.10", "type: PTR, expect: [acme.test]", sec, checks.OK, "10.2.0.192.in-addr.arpa PTR = acme.test."},
		{"no record of the type", "acme.test", "type: SRV", sec, checks.Critical, "no SRV record in the answer"},
		{"over tcp", "acme.test", "protocol: tcp", sec, checks.OK, "acme.test A = 192.0.2.10"},
		{"truncated udp retried over tcp", "big.acme.test", "type: TXT", sec, checks.OK, "full answer over tcp"},
		{"NXDOMAIN", "nope.test", "", sec, checks.Critical, "nope.test A via " + server + ": NXDOMAIN"},
		{"SERVFAIL", "broken.test", "", sec, checks.Critical, "SERVFAIL"},
		{"server hangs", "hang.test", "", 300 * time.Millisecond, checks.Critical, "hang.test A via " + server + ": timed out"},
		{"server hangs over tcp", "hang.test", "protocol: tcp", 300 * time.Millisecond, checks.Critical, "timed out"},
		{"nothing on the tcp port", "acme.test", "protocol: tcp", sec, checks.Critical, "connection refused"},
		{"slow warning", "acme.test", "warning_ms: 0.000001", sec, checks.Warning, "(slow)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := server
			if tc.name == "nothing on the tcp port" {
				srv = refusedAddr(t)
			}
			opts := "{server: '" + srv + "'"
			if tc.opts != "" {
				opts += ", " + tc.opts
			}
			r := run(t, build(t, "dns", tc.target, opts+"}", tc.timeout), tc.timeout)
			want(t, r, tc.status, tc.detail)
			if r.Status == checks.OK && (!r.HasValue || r.Value <= 0) {
				t.Fatalf("no response time: %+v", r)
			}
		})
	}
}
