package proxy

import (
	"fmt"
	"io"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux socket options the syscall package does not name.
const (
	ipFreebind   = 15 // IP_FREEBIND
	ipv6Freebind = 78 // IPV6_FREEBIND, Linux 4.15 and later
	// SO_MEMINFO's layout (linux/sock_diag.h): the drop counter, and the
	// number of counters.
	skMeminfoDrops = 8
	skMeminfoVars  = 9
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
		switch network {
		case "tcp4", "tcp6":
			if e := syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); e != nil {
				serr = fmt.Errorf("set SO_REUSEADDR on %s: %w", address, e)
			}
		case "udp4", "udp6":
			growReceiveBuffer(s)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// udpReceiveBuffer is what a UDP service socket asks for. One receive
// goroutine reads every client of the service; the kernel's default
// (about 208 KiB, some 270 small datagrams) fills in a fraction of a
// millisecond whenever that goroutine is descheduled, and what overflows
// is lost before govs sees it, uncounted by the socket budget.
const udpReceiveBuffer = 4 << 20

// growReceiveBuffer raises a UDP service socket's receive buffer:
// SO_RCVBUFFORCE passes net.core.rmem_max when the router may
// (CAP_NET_ADMIN), SO_RCVBUF gets what rmem_max allows otherwise. Neither
// failing is an error: the socket works with the default, and what it
// drops is counted (receiveDrops).
func growReceiveBuffer(fd int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpReceiveBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, udpReceiveBuffer)
	}
}

// receiveDrops is how many datagrams the kernel dropped at c's full
// receive buffer, from SO_MEMINFO's drop counter (Linux 3.9 and later);
// 0 when it cannot be read.
func receiveDrops(c *net.UDPConn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var info [skMeminfoVars]uint32
	var drops uint64
	_ = rc.Control(func(fd uintptr) {
		n := uint32(unsafe.Sizeof(info))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&n)), 0)
		if e == 0 && n >= (skMeminfoDrops+1)*4 {
			drops = uint64(info[skMeminfoDrops])
		}
	})
	return drops
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
