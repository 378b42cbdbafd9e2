package discovery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

type pingReply struct {
	ok  bool
	rtt float64
}

// pingMode remembers which ICMP socket works, like the ping check: ping
// sockets first (net.ipv4.ping_group_range), raw ones when refused.
type pingMode struct {
	forced *bool
	raw    atomic.Bool
	known  atomic.Bool
	failed atomic.Bool
	mu     sync.Mutex
	err    error
}

func (m *pingMode) why() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		return "no socket"
	}
	return m.err.Error()
}

func (m *pingMode) ping(ctx context.Context, a netip.Addr, timeout time.Duration) pingReply {
	try := func(priv bool) (pingReply, bool, error) {
		p := probing.New("")
		p.SetIPAddr(&net.IPAddr{IP: a.AsSlice()})
		p.SetPrivileged(priv)
		p.SetLogger(probing.NoopLogger{})
		p.Count, p.Timeout, p.Interval = 1, timeout, timeout
		p.RecordRtts, p.RecordTTLs = false, false
		opened := false
		p.OnSetup = func() { opened = true }
		err := p.RunWithContext(ctx)
		st := p.Statistics()
		return pingReply{ok: st.PacketsRecv > 0, rtt: float64(st.AvgRtt.Microseconds()) / 1000}, opened, err
	}
	if m.forced != nil {
		r, opened, err := try(*m.forced)
		m.note(opened, err)
		return r
	}
	if m.known.Load() {
		r, opened, err := try(m.raw.Load())
		m.note(opened, err)
		return r
	}
	r, opened, err := try(false)
	if !opened && ctx.Err() == nil {
		r, opened, err = try(true)
		if opened {
			m.raw.Store(true)
			m.known.Store(true)
		}
	} else if opened {
		m.known.Store(true)
	}
	m.note(opened, err)
	return r
}

func (m *pingMode) note(opened bool, err error) {
	if !opened && err != nil {
		m.failed.Store(true)
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
	}
}

// localAddrs are this machine's own addresses.
func localAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	as, _ := net.InterfaceAddrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out
}

// isWebPort says whether a port is tried for a page title.
func isWebPort(p int) bool { return p == 80 || p == 443 || p == 8080 || p == 8443 || p == 631 }

// identify runs the second-phase probes on a live host.
func identify(ctx context.Context, o Options, lim *limiter, h *Host) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, port := range o.Ports {
		if err := lim.wait(ctx); err != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tcpOpen(ctx, h.IP, port, o.Timeout) {
				mu.Lock()
				h.OpenPorts = append(h.OpenPorts, port)
				mu.Unlock()
			}
		}()
	}
	if o.ReverseDNS {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			names, _ := net.DefaultResolver.LookupAddr(rctx, h.IP.String())
			for i := range names {
				names[i] = strings.TrimSuffix(names[i], ".")
			}
			mu.Lock()
			h.Names = names
			mu.Unlock()
		}()
	}
	if o.SNMP != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := snmpSystem(ctx, o, lim, h.IP)
			if err == nil {
				mu.Lock()
				h.SNMP = s
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(h.OpenPorts)
	for _, p := range h.OpenPorts {
		if !isWebPort(p) {
			continue
		}
		if err := lim.wait(ctx); err != nil {
			return
		}
		h.Web = append(h.Web, webPage(ctx, h.IP, p, o.Timeout))
	}
}

// answersTCP says whether ip answers a TCP connect on any of the ports,
// open or refused.
func answersTCP(ctx context.Context, o Options, lim *limiter, ip netip.Addr) bool {
	var yes atomic.Bool
	var wg sync.WaitGroup
	for _, p := range o.Ports {
		if lim.wait(ctx) != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: o.Timeout}
			c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(p)).String())
			if err == nil {
				c.Close()
			}
			if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
				yes.Store(true)
			}
		}()
	}
	wg.Wait()
	return yes.Load()
}

// tcpOpen says whether a TCP connect to ip:port completes.
func tcpOpen(ctx context.Context, ip netip.Addr, port int, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// maxPage bounds how much of a page is read for its title.
const maxPage = 64 << 10

// webPage fetches / on an open web port: status, title, Server header,
// and on TLS the certificate's names (not verified: a device's own
// self-signed certificate is what it has).
func webPage(ctx context.Context, ip netip.Addr, port int, timeout time.Duration) Web {
	w := Web{Port: port, Scheme: "http"}
	if port == 443 || port == 8443 {
		w.Scheme = "https"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true}, // reading names, not trusting
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: 2 * timeout,
		DisableKeepAlives:     true,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u := fmt.Sprintf("%s://%s/", w.Scheme, netip.AddrPortFrom(ip, uint16(port)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		w.Error = err.Error()
		return w
	}
	req.Header.Set("User-Agent", "outpost-discovery")
	resp, err := cl.Do(req)
	if err != nil {
		w.Error = shortErr(err)
		return w
	}
	defer resp.Body.Close()
	w.Status, w.Server = resp.StatusCode, clean(resp.Header.Get("Server"), 80)
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		c := resp.TLS.PeerCertificates[0]
		if c.Subject.CommonName != "" {
			w.CertNames = append(w.CertNames, clean(c.Subject.CommonName, 100))
		}
		for _, n := range c.DNSNames {
			if !slices.Contains(w.CertNames, n) && len(w.CertNames) < 8 {
				w.CertNames = append(w.CertNames, clean(n, 100))
			}
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	w.Title = pageTitle(body)
	return w
}

// pageTitle is a page's <title>, unescaped, printable, at most 120 bytes.
func pageTitle(body []byte) string {
	if len(body) > maxPage {
		body = body[:maxPage]
	}
	if m := titleRE.FindSubmatch(body); m != nil {
		return clean(html.UnescapeString(string(m[1])), 120)
	}
	return ""
}

// clean makes a device's text printable and short: no control characters
// reach a technician's terminal.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		i := n
		for i > 0 && !isRuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func shortErr(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// enterprise is the enterprise number of an OID under 1.3.6.1.4.1.
func enterprise(oid string) int {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(oid, "."), "1.3.6.1.4.1.")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0])
	if err != nil {
		return -1
	}
	return n
}
