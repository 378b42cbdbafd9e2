//go:build linux

package checks

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// dialBlocking connects with plain blocking system calls and SO_SNDTIMEO /
// SO_RCVTIMEO set from the check's deadline, bypassing Go's netpoller.
// A check's connection lives for milliseconds and is used by one
// goroutine: registering it with epoll, parking and waking goroutines
// cost more CPU than the check itself (measured: about half the CPU of an
// HTTP check on loopback). The deadline still bounds every call. ok is
// false when the address needs a name lookup or the deadline is missing;
// then the caller uses the ordinary dialer.
func dialBlocking(ctx context.Context, addr string) (c net.Conn, err error, ok bool) {
	dl, has := ctx.Deadline()
	if !has {
		return nil, nil, false
	}
	ap, perr := netip.ParseAddrPort(addr)
	if perr != nil {
		host, port, serr := net.SplitHostPort(addr)
		if serr != nil {
			return nil, nil, false
		}
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil || len(ips) == 0 {
			return nil, nil, false
		}
		ap, perr = netip.ParseAddrPort(net.JoinHostPort(ips[0].Unmap().String(), port))
		if perr != nil {
			return nil, nil, false
		}
	}
	ip := ap.Addr().Unmap()
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ip.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", err)}, true
	}
	rc := &rawConn{fd: fd, raddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, ap.Port()))}
	// Blocking calls do not see ctx: when it is cancelled (the daemon
	// stopping) the socket is shut down, which ends a read or write
	// blocked on it at once instead of at the check's deadline.
	rc.stop = context.AfterFunc(ctx, func() {
		// A deadline is the socket timeout's to report ("timed out");
		// only a cancellation cuts the socket short.
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			rc.abort()
		}
	})
	if err := rc.SetDeadline(dl); err != nil {
		rc.Close()
		return nil, err, true
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	for {
		err = syscall.Connect(fd, sa)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		rc.Close()
		if err == syscall.EINPROGRESS || err == syscall.EAGAIN {
			err = os.ErrDeadlineExceeded // SO_SNDTIMEO ran out
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: rc.raddr, Err: wrapSys("connect", err)}, true
	}
	return rc, nil, true
}

func wrapSys(op string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return os.NewSyscallError(op, err)
}

// rawConn is a net.Conn over a blocking socket.
type rawConn struct {
	fd     int
	raddr  net.Addr
	closed atomic.Bool
	// mu orders abort and Close: the descriptor is shut down only while
	// it is still this connection's.
	mu   sync.Mutex
	stop func() bool
}

// abort shuts the socket down so a blocked call returns.
func (c *rawConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed.Load() {
		syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
}

var _ net.Conn = (*rawConn)(nil)

// errClosed is returned for use after Close: the descriptor number may
// already belong to another socket.
var errClosed = net.ErrClosed

func (c *rawConn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, errClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(c.fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: c.raddr, Err: os.ErrDeadlineExceeded}
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: c.raddr, Err: os.NewSyscallError("read", err)}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *rawConn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, errClosed
	}
	done := 0
	for done < len(b) {
		n, err := syscall.Write(c.fd, b[done:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return done, &net.OpError{Op: "write", Net: "tcp", Addr: c.raddr, Err: os.ErrDeadlineExceeded}
		case err != nil:
			return done, &net.OpError{Op: "write", Net: "tcp", Addr: c.raddr, Err: os.NewSyscallError("write", err)}
		}
		done += n
	}
	return done, nil
}

func (c *rawConn) Close() error {
	if c.stop != nil {
		c.stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Swap(true) {
		return nil
	}
	return syscall.Close(c.fd)
}

func (c *rawConn) LocalAddr() net.Addr {
	sa, err := syscall.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)))
	case *syscall.SockaddrInet6:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)))
	}
	return nil
}

func (c *rawConn) RemoteAddr() net.Addr { return c.raddr }

func (c *rawConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *rawConn) SetReadDeadline(t time.Time) error {
	return c.setTimeout(syscall.SO_RCVTIMEO, t)
}

func (c *rawConn) SetWriteDeadline(t time.Time) error {
	return c.setTimeout(syscall.SO_SNDTIMEO, t)
}

// setTimeout turns a deadline into a socket timeout. A zero time means
// no timeout; a deadline already past becomes the smallest timeout.
func (c *rawConn) setTimeout(opt int, t time.Time) error {
	if c.closed.Load() {
		return errClosed
	}
	var d time.Duration
	if !t.IsZero() {
		d = time.Until(t)
		if d <= 0 {
			d = time.Microsecond
		}
	}
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	if !t.IsZero() && tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1
	}
	return os.NewSyscallError("setsockopt", syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv))
}
