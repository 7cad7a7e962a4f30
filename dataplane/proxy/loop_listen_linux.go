//go:build linux

package proxy

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watch registers a listener with the loop.
func (lp *evloop) watch(l *listener) {
	ev := uint32(unix.EPOLLIN)
	if lp.exclusive {
		ev |= unix.EPOLLEXCLUSIVE
	}
	if err := lp.add(l.fd, ev, ent{l: l}); err != nil {
		lp.p.log.Error("listener not watched", "listener", l.id.String(), "error", err)
	}
}

// unwatch unregisters a listener; the caller closes it.
func (lp *evloop) unwatch(l *listener) {
	if _, ok := lp.paused[l]; ok {
		delete(lp.paused, l)
		return
	}
	unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, l.fd, nil)
	lp.forget(l.fd)
}

// listenRaw binds a listening TCP socket outside Go's poller, for the
// event loops: the runtime would otherwise be woken by every connection
// that it does not accept itself.
func listenRaw(id lkey) (int, error) {
	addr := id.addr.String()
	a := id.addr.Addr()
	var sa unix.Sockaddr
	fam := unix.AF_INET
	if a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(id.addr.Port()), Addr: a.As4()}
	} else {
		fam = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(id.addr.Port()), Addr: a.As16()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("listen on tcp %s: socket: %w", addr, err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("listen on tcp %s: %s: %w", addr, what, os.NewSyscallError(what, err))
	}
	if fam == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := setFreebind(fd, fam == unix.AF_INET6); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	// Accepted sockets inherit TCP_NODELAY: one system call less per
	// connection.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	// The kernel caps the backlog at net.core.somaxconn.
	if err := unix.Listen(fd, 65535); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

func closeRaw(fd int) { unix.Close(fd) }
