package checks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

func init() {
	Register(Kind{Name: "ping", Summary: "ICMP echo: round trip min/avg/max and loss", NeedsTarget: true, New: newPing})
}

// Ping sends ICMP echo requests. By default it uses unprivileged ICMP
// ("ping") sockets, which Linux allows for the groups in
// net.ipv4.ping_group_range, and falls back to raw sockets (root or
// CAP_NET_RAW) when those are refused; options.privileged forces one.
type Ping struct {
	host string
	ip   netip.Addr // set when the target is an IP literal
	o    pingOptions
}

var _ Checker = (*Ping)(nil)

type pingOptions struct {
	Count          int           `yaml:"count"`
	PacketInterval time.Duration `yaml:"packet_interval"`
	Privileged     *bool         `yaml:"privileged"`
	WarningLoss    float64       `yaml:"warning_loss"`
	CriticalLoss   float64       `yaml:"critical_loss"`
	WarningMS      float64       `yaml:"warning_ms"`
	CriticalMS     float64       `yaml:"critical_ms"`
}

// Socket modes remembered per address family once the automatic choice
// has found what works, so later runs do not retry a refused socket.
const (
	pingModeUnknown int32 = iota
	pingModeDatagram
	pingModeRaw
)

var pingMode [2]atomic.Int32 // [0] IPv4, [1] IPv6

func newPing(s Spec, _ Deps) (Checker, error) {
	p := &Ping{host: s.Target, o: pingOptions{Count: 3, PacketInterval: 200 * time.Millisecond, WarningLoss: 0, CriticalLoss: 100}}
	if err := s.Options.Decode(&p.o); err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(s.Target); err == nil {
		p.ip = ip.Unmap()
	} else if !validHostname(s.Target) {
		return nil, &FieldError{Field: "target", Msg: fmt.Sprintf("%q is not a host name or IP address", s.Target)}
	}
	if p.o.Count < 1 || p.o.Count > 100 {
		return nil, &FieldError{Field: "options.count", Msg: fmt.Sprintf("%d is out of range (1 to 100)", p.o.Count)}
	}
	if p.o.PacketInterval < 10*time.Millisecond {
		return nil, &FieldError{Field: "options.packet_interval", Msg: fmt.Sprintf("%s is below the minimum 10ms", p.o.PacketInterval)}
	}
	// The last request must leave time for its reply before the timeout.
	if s.Timeout > 0 && time.Duration(p.o.Count-1)*p.o.PacketInterval >= s.Timeout {
		return nil, &FieldError{Field: "options.count", Msg: fmt.Sprintf("%d packets %s apart do not fit in the timeout %s", p.o.Count, p.o.PacketInterval, s.Timeout)}
	}
	switch {
	case p.o.CriticalLoss <= 0 || p.o.CriticalLoss > 100:
		return nil, &FieldError{Field: "options.critical_loss", Msg: fmt.Sprintf("%g is not a percentage above 0 and at most 100", p.o.CriticalLoss)}
	case p.o.WarningLoss < 0 || p.o.WarningLoss > p.o.CriticalLoss:
		return nil, &FieldError{Field: "options.warning_loss", Msg: fmt.Sprintf("%g is not a percentage from 0 to critical_loss (%g)", p.o.WarningLoss, p.o.CriticalLoss)}
	}
	if err := checkMS(p.o.WarningMS, p.o.CriticalMS); err != nil {
		return nil, err
	}
	return p, nil
}

// validHostname accepts letters, digits, '-', '_' and dots: enough to
// catch a URL or host:port put where a host belongs.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// Check pings the target count times and waits for the replies until
// the ctx deadline.
func (p *Ping) Check(ctx context.Context) Result {
	start := time.Now()
	ip := p.ip
	if !ip.IsValid() {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", p.host)
		if err != nil || len(ips) == 0 {
			why := "no address"
			if err != nil {
				why = netReason(err)
			}
			return Result{Time: start, Status: Critical, Latency: Since(start), Detail: "resolve " + p.host + ": " + why}
		}
		ip = ips[0].Unmap()
		for _, a := range ips {
			if a.Unmap().Is4() { // IPv4 first, like ping(8)
				ip = a.Unmap()
				break
			}
		}
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(time.Duration(p.o.Count)*p.o.PacketInterval + time.Second)
	}
	fam := 0
	if !ip.Is4() {
		fam = 1
	}
	var (
		st     *probing.Statistics
		opened bool
		err    error
	)
	switch {
	case p.o.Privileged != nil:
		st, opened, err = p.run(ctx, ip, deadline, *p.o.Privileged)
	case pingMode[fam].Load() == pingModeRaw:
		st, opened, err = p.run(ctx, ip, deadline, true)
	default:
		st, opened, err = p.run(ctx, ip, deadline, false)
		if !opened && ctx.Err() == nil {
			// Ping sockets refused (group not in ping_group_range):
			// raw sockets may still be allowed.
			st, opened, err = p.run(ctx, ip, deadline, true)
			if opened {
				pingMode[fam].Store(pingModeRaw)
			}
		} else if opened {
			pingMode[fam].Store(pingModeDatagram)
		}
	}
	if !opened {
		why := "context ended"
		if err != nil {
			why = err.Error()
		}
		return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "cannot open an ICMP socket: " + why + pingHelp(p.o.Privileged)}
	}
	if err != nil && ctx.Err() == nil && st.PacketsSent == 0 {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: "sending to " + ip.String() + ": " + netReason(err)}
	}
	if st.PacketsRecv == 0 {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: fmt.Sprintf("0/%d replies, 100%% loss", st.PacketsSent)}
	}
	r := Result{Time: start, Status: OK, Latency: st.AvgRtt}.WithValue(ms(st.AvgRtt))
	loss := st.PacketLoss
	r.Detail = fmt.Sprintf("%d/%d replies, rtt min/avg/max %.2f/%.2f/%.2f ms, %.0f%% loss", st.PacketsRecv, st.PacketsSent, ms(st.MinRtt), ms(st.AvgRtt), ms(st.MaxRtt), loss)
	switch {
	case loss >= p.o.CriticalLoss:
		r.Status = Critical
	case loss > 0 && loss >= p.o.WarningLoss:
		r.Status = Warning
	}
	r.Status = Worst(r.Status, evalMS(ms(st.AvgRtt), p.o.WarningMS, p.o.CriticalMS))
	return r
}

// pingHelp says what to change when no ICMP socket could be opened.
func pingHelp(privileged *bool) string {
	switch {
	case privileged == nil:
		return " (allow Outpost's group in sysctl net.ipv4.ping_group_range, or run with CAP_NET_RAW)"
	case *privileged:
		return " (privileged: true needs root or CAP_NET_RAW)"
	}
	return " (privileged: false needs Outpost's group in sysctl net.ipv4.ping_group_range)"
}

// run does one pro-bing run. opened reports whether the socket could be
// opened at all, which separates "not permitted" from "target silent".
func (p *Ping) run(ctx context.Context, ip netip.Addr, deadline time.Time, privileged bool) (st *probing.Statistics, opened bool, err error) {
	pinger := probing.New("")
	pinger.SetIPAddr(&net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()})
	pinger.SetPrivileged(privileged)
	pinger.SetLogger(probing.NoopLogger{})
	pinger.Count = p.o.Count
	pinger.Interval = p.o.PacketInterval
	pinger.RecordRtts, pinger.RecordTTLs = false, false
	pinger.Timeout = max(time.Until(deadline), time.Millisecond)
	pinger.OnSetup = func() { opened = true }
	err = pinger.RunWithContext(ctx)
	return pinger.Statistics(), opened, err
}
