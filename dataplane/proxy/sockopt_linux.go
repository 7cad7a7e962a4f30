package proxy

import (
	"fmt"
	"io"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Linux socket options the syscall package does not name.
const (
	ipFreebind   = 15 // IP_FREEBIND
	ipv6Freebind = 78 // IPV6_FREEBIND, Linux 4.15 and later
)

// listenControl prepares a listening socket before bind: IP_FREEBIND so a
// VIP can be bound before it is plumbed (a backup router binds its VIPs
// ahead of a takeover), and SO_REUSEADDR on TCP so a restarted router
// rebinds over lingering TIME_WAIT connections.
func listenControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		s := int(fd)
		if e := setFreebind(s, network == "tcp6" || network == "udp6"); e != nil {
			serr = fmt.Errorf("set IP_FREEBIND on %s: %w", address, e)
			return
		}
		if network == "tcp4" || network == "tcp6" {
			if e := syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); e != nil {
				serr = fmt.Errorf("set SO_REUSEADDR on %s: %w", address, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// setFreebind lets a socket bind an address not configured (yet).
func setFreebind(fd int, v6 bool) error {
	if v6 {
		// Older kernels lack IPV6_FREEBIND but honour IP_FREEBIND on
		// IPv6 sockets.
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, ipv6Freebind, 1); err == nil {
			return nil
		}
	}
	return syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, ipFreebind, 1)
}

// urgentInline makes c deliver urgent data in the stream (SO_OOBINLINE):
// a reader that never asks for it out of band then still gets the byte,
// in its place, instead of losing it; readMarked says which it is.
func urgentInline(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	}); err != nil {
		return err
	}
	return serr
}

// readMarked reads from c into b as Read does, but when the next byte is
// urgent data it returns that byte alone, with urgent set. The mark is
// looked at when c is readable, just before reading: a blocked read would
// otherwise take an urgent byte that arrives first in a segment as
// ordinary data.
func readMarked(c *net.TCPConn, b []byte) (n int, urgent bool, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		if m, _ := unix.IoctlGetInt(int(fd), unix.SIOCATMARK); m == 1 {
			n, rerr = unix.Read(int(fd), b[:1])
			urgent = true
		} else {
			n, rerr = unix.Read(int(fd), b)
		}
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if n < 0 {
		n = 0
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	return n, urgent && n == 1, err
}

// sendUrgent sends b to c as urgent data (MSG_OOB).
func sendUrgent(c *net.TCPConn, b byte) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), []byte{b}, unix.MSG_OOB, nil)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}
