package checks

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDNSDefaultServer checks the two defaults that need port 53: no
// server option means the first nameserver of resolv.conf, and a server
// without a port means port 53. The server runs on 127.83.0.1:53 (all
// of 127/8 is loopback on Linux); binding port 53 needs root.
func TestDNSDefaultServer(t *testing.T) {
	const ip = "127.83.0.1"
	pc, err := net.ListenPacket("udp", ip+":53")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot serve DNS on %s:53: %v", ip, err)
		}
		t.Skipf("cannot serve DNS on %s:53 (needs root and a free port): %v", ip, err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.53")
		m.Answer = []dns.RR{rr}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })

	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("# written by the test\nsearch acme.test\nnameserver "+ip+"\nnameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := resolvConf
	resolvConf = conf
	t.Cleanup(func() { resolvConf = saved })

	check := func(t *testing.T, opts Options, wantDetail string) {
		t.Helper()
		c, err := Build(Spec{Kind: "dns", Target: "intranet.acme.test", Timeout: time.Second, Options: opts}, Deps{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r := c.Check(ctx)
		if r.Status != OK || !strings.Contains(r.Detail, wantDetail) {
			t.Fatalf("got %s %q, want ok with %q", r.Status, r.Detail, wantDetail)
		}
	}
	t.Run("resolv.conf", func(t *testing.T) { check(t, nil, "intranet.acme.test A = 192.0.2.53") })
	t.Run("server without port", func(t *testing.T) { check(t, serverOpt(ip), "192.0.2.53") })

	t.Run("no nameserver line", func(t *testing.T) {
		os.WriteFile(conf, []byte("search acme.test\n"), 0o644)
		c, _ := Build(Spec{Kind: "dns", Target: "acme.test"}, Deps{})
		r := c.Check(context.Background())
		if r.Status != Unknown || !strings.Contains(r.Detail, "no DNS server to ask (set options.server)") {
			t.Fatalf("got %s %q", r.Status, r.Detail)
		}
	})
}

// serverOpt is an Options carrying only options.server.
type serverOpt string

func (s serverOpt) Decode(v any) error {
	v.(*dnsOptions).Server = string(s)
	return nil
}
