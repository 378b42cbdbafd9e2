package checks

import (
	"context"
	"fmt"
	"net"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

func init() {
	Register(Kind{Name: "ping", Summary: "ICMP echo: round trip min/avg/max and loss", NeedsTarget: true, New: newPing})
}

// Ping sends ICMP echo requests. It uses unprivileged ICMP sockets where
// the kernel allows them (net.ipv4.ping_group_range) and raw sockets
// otherwise (root or CAP_NET_RAW), unless options.privileged forces one.
type Ping struct {
	target string
	o      pingOptions
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

func newPing(s Spec) (Checker, error) {
	p := &Ping{target: s.Target, o: pingOptions{Count: 3, PacketInterval: 200 * time.Millisecond, WarningLoss: 1, CriticalLoss: 100}}
	if err := s.Options.Decode(&p.o); err != nil {
		return nil, err
	}
	if p.o.Count < 1 || p.o.Count > 100 {
		return nil, &FieldError{Field: "options.count", Msg: fmt.Sprintf("%d is out of range (1 to 100)", p.o.Count)}
	}
	if p.o.PacketInterval < 10*time.Millisecond {
		return nil, &FieldError{Field: "options.packet_interval", Msg: "must be at least 10ms"}
	}
	if s.Timeout > 0 && time.Duration(p.o.Count-1)*p.o.PacketInterval >= s.Timeout {
		return nil, &FieldError{Field: "options.count", Msg: fmt.Sprintf("%d packets %s apart do not fit in the timeout %s", p.o.Count, p.o.PacketInterval, s.Timeout)}
	}
	if p.o.CriticalLoss <= 0 || p.o.CriticalLoss > 100 || p.o.WarningLoss < 0 || p.o.WarningLoss > p.o.CriticalLoss {
		return nil, &FieldError{Field: "options.critical_loss", Msg: "loss thresholds are percentages with warning_loss <= critical_loss <= 100"}
	}
	return p, nil
}

// Check pings the target count times.
func (p *Ping) Check(ctx context.Context) Result {
	start := time.Now()
	pinger, err := probing.NewPinger(p.target)
	if err != nil {
		return Result{Time: start, Status: Critical, Latency: Since(start), Detail: "resolve: " + netReason(err)}
	}
	pinger.Count = p.o.Count
	pinger.Interval = p.o.PacketInterval
	pinger.Timeout = time.Duration(p.o.Count)*p.o.PacketInterval + time.Second
	if dl, ok := ctx.Deadline(); ok {
		pinger.Timeout = time.Until(dl)
	}
	if p.o.Privileged != nil {
		pinger.SetPrivileged(*p.o.Privileged)
	} else {
		pinger.SetPrivileged(!unprivilegedPingAllowed(pinger.IPAddr()))
	}
	if err := pinger.RunWithContext(ctx); err != nil && ctx.Err() == nil {
		return Result{Time: start, Status: Unknown, Latency: Since(start), Detail: "cannot send ICMP: " + err.Error() + " (run as root, or allow unprivileged ping with sysctl net.ipv4.ping_group_range)"}
	}
	st := pinger.Statistics()
	r := Result{Time: start, Status: OK, Latency: st.AvgRtt}
	if st.PacketsRecv == 0 {
		r.Status = Critical
		r.Detail = fmt.Sprintf("0/%d replies, 100%% loss", st.PacketsSent)
		return r
	}
	r = r.WithValue(ms(st.AvgRtt))
	r.Detail = fmt.Sprintf("%d/%d replies, rtt min/avg/max %.2f/%.2f/%.2f ms, %.0f%% loss", st.PacketsRecv, st.PacketsSent, ms(st.MinRtt), ms(st.AvgRtt), ms(st.MaxRtt), st.PacketLoss)
	switch {
	case st.PacketLoss >= p.o.CriticalLoss:
		r.Status = Critical
	case p.o.WarningLoss > 0 && st.PacketLoss >= p.o.WarningLoss:
		r.Status = Warning
	}
	if p.o.CriticalMS > 0 && ms(st.AvgRtt) > p.o.CriticalMS {
		r.Status = Worst(r.Status, Critical)
	} else if p.o.WarningMS > 0 && ms(st.AvgRtt) > p.o.WarningMS {
		r.Status = Worst(r.Status, Warning)
	}
	return r
}

// unprivilegedPingAllowed tries to open an unprivileged ICMP socket.
func unprivilegedPingAllowed(ip *net.IPAddr) bool {
	network := "udp4"
	if ip != nil && ip.IP.To4() == nil {
		network = "udp6"
	}
	c, err := listenICMP(network)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
