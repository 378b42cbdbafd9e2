//go:build !linux

package checks

import (
	"context"
	"net"
)

func dialBlocking(ctx context.Context, addr string) (net.Conn, error, bool) { return nil, nil, false }
