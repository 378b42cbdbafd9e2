package healing

import (
	"bytes"
	"context"
	"fmt"
	"net"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "wol", Summary: "send a Wake-on-LAN magic packet", New: newWOL})
}

// WOL sends a magic packet: 6 × 0xFF then the MAC 16 times, over UDP to
// the subnet's broadcast address.
type WOL struct {
	mac  net.HardwareAddr
	addr string
}

func newWOL(opts checks.Options, env Env, _ checks.Deps) (Action, error) {
	var o struct {
		Action    string `yaml:"action"`
		MAC       string `yaml:"mac"`
		Broadcast string `yaml:"broadcast"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	mac, err := net.ParseMAC(o.MAC)
	if err != nil || len(mac) != 6 {
		return nil, &checks.FieldError{Field: "mac", Msg: fmt.Sprintf("%q is not a MAC address like 00:11:22:33:44:55", o.MAC)}
	}
	if o.Broadcast == "" {
		return nil, &checks.FieldError{Field: "broadcast", Msg: "is required: the subnet's broadcast address and port, e.g. 192.168.1.255:9"}
	}
	if _, _, err := net.SplitHostPort(o.Broadcast); err != nil {
		return nil, &checks.FieldError{Field: "broadcast", Msg: fmt.Sprintf("%q is not host:port", o.Broadcast)}
	}
	return &WOL{mac: mac, addr: o.Broadcast}, nil
}

// MagicPacket builds the packet for mac.
func MagicPacket(mac net.HardwareAddr) []byte {
	p := bytes.Repeat([]byte{0xff}, 6)
	for i := 0; i < 16; i++ {
		p = append(p, mac...)
	}
	return p
}

// Run sends the packet.
func (w *WOL) Run(ctx context.Context) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", w.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if uc, ok := c.(*net.UDPConn); ok {
		if rc, err := uc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { setBroadcast(fd) })
		}
	}
	if _, err := c.Write(MagicPacket(w.mac)); err != nil {
		return "", err
	}
	return fmt.Sprintf("magic packet for %s sent to %s", w.mac, w.addr), nil
}

// Target is the MAC.
func (w *WOL) Target() string { return "mac:" + w.mac.String() }

// Describe says what it does.
func (w *WOL) Describe() string { return "wake " + w.mac.String() + " via " + w.addr }
