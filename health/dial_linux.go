package health

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// haveFastDial reports whether startTCP is implemented here.
const haveFastDial = true

// fastDial opens TCP check connections with the fewest system calls and
// allocations: socket, connect, one wait in the runtime's poller, and the
// connect result. net.Dialer also resolves the address, reads both socket
// names and sets TCP_NODELAY, which at ten thousand checks a second is a
// large share of the router's CPU. Other networks go to net.Dialer.
func fastDial(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || (network != "tcp" && network != "tcp4" && network != "tcp6") {
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}
	c, err := startTCP(ap)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, c.abort)
	err = c.waitConnected(ctx)
	stop()
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// startTCP opens a non-blocking socket and starts connecting it to ap.
func startTCP(ap netip.AddrPort) (*fastConn, error) {
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if a := ap.Addr(); a.Is4() || a.Is4In6() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}
	} else {
		family = syscall.AF_INET6
		s6 := &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
		if z := a.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				s6.ZoneId = uint32(ifi.Index)
			}
		}
		sa = s6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", err)}
	}
	err = syscall.Connect(fd, sa)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	return &fastConn{f: os.NewFile(uintptr(fd), ""), remote: ap}, nil
}

// waitConnected waits, within the connection's deadline, for the connect
// to finish. On failure the socket is closed with a reset. ctx only words
// the error of an aborted wait.
func (c *fastConn) waitConnected(ctx context.Context) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		c.f.Close()
		return &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	var cerr error
	werr := rc.Write(func(fd uintptr) bool {
		v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
		switch {
		case err != nil:
			cerr = err
		case v == int(syscall.EINPROGRESS) || v == int(syscall.EALREADY) || v == int(syscall.EINTR):
			return false
		case v != 0:
			cerr = syscall.Errno(v)
		default:
			// No error is also what a connect still in progress reports
			// (and the poller may wake spuriously): only a peer name
			// proves the connection, as in net's own connect.
			if _, err := syscall.Getpeername(int(fd)); err != nil {
				return false
			}
		}
		return true
	})
	if werr == nil && cerr == nil {
		return nil
	}
	closeReset(c)
	if werr != nil {
		if err := ctx.Err(); err != nil && errors.Is(werr, os.ErrDeadlineExceeded) && !c.expired() {
			werr = err
		}
		return &net.OpError{Op: "dial", Net: "tcp", Err: werr}
	}
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", cerr)}
}

// fastConn is a connected TCP socket driven through os.File, which gives
// it the runtime poller and deadlines.
type fastConn struct {
	f        *os.File
	remote   netip.AddrPort
	deadline time.Time
}

// abort interrupts whatever the connection waits for; the check is being
// cancelled.
func (c *fastConn) abort() { _ = c.f.SetDeadline(time.Unix(1, 0)) }

// expired reports whether the deadline last set has passed, to tell a
// timeout from an abort.
func (c *fastConn) expired() bool { return !c.deadline.IsZero() && !time.Now().Before(c.deadline) }

func (c *fastConn) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	return n, mapFileErr("read", err)
}

func (c *fastConn) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	return n, mapFileErr("write", err)
}

func (c *fastConn) Close() error { return c.f.Close() }

func (c *fastConn) LocalAddr() net.Addr {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil
	}
	var sa syscall.Sockaddr
	rc.Control(func(fd uintptr) { sa, _ = syscall.Getsockname(int(fd)) })
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	}
	return nil
}

func (c *fastConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

func (c *fastConn) SetDeadline(t time.Time) error {
	c.deadline = t
	return c.f.SetDeadline(t)
}
func (c *fastConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *fastConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// SetLinger sets SO_LINGER as net.TCPConn.SetLinger does.
func (c *fastConn) SetLinger(sec int) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	l := &syscall.Linger{Onoff: 1, Linger: int32(sec)}
	if sec < 0 {
		l.Onoff, l.Linger = 0, 0
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, l)
	}); err != nil {
		return err
	}
	return serr
}

// mapFileErr gives os.File's errors the shape of net.Conn's: io.EOF stays
// as it is, a PathError becomes a net.OpError around the same cause.
func mapFileErr(op string, err error) error {
	if pe, ok := err.(*os.PathError); ok {
		if pe.Err == os.ErrDeadlineExceeded {
			return pe.Err
		}
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, pe.Err)}
	}
	return err
}
