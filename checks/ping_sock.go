package checks

import (
	"net"

	"golang.org/x/net/icmp"
)

func listenICMP(network string) (net.PacketConn, error) {
	addr := "0.0.0.0"
	if network == "udp6" {
		addr = "::"
	}
	return icmp.ListenPacket(network, addr)
}
