package checks

import (
	"context"
	"net"
)

// dialTCP opens a TCP connection for a check. On Linux it uses blocking
// system calls with socket timeouts (dial_linux.go); elsewhere Go's
// ordinary dialer.
func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if c, err, ok := dialBlocking(ctx, addr); ok {
		return c, err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}
