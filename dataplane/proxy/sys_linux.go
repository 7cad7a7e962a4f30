//go:build linux

package proxy

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loops' system calls. Every socket of a loop is non-blocking,
// so its calls return at once and are made without telling the scheduler
// (syscall.RawSyscall): entering and leaving a system call the usual way
// costs more than most of these calls, and a goroutine that is in system
// calls nearly all the time keeps the runtime's monitor thread waking
// every 20 µs to take its processor away. golang.org/x/sys/unix has no
// such variants for these calls. An errno of 0 means success.

func rawRead(fd int, b []byte) (int, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

func rawWrite(fd int, b []byte) (int, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

func rawClose(fd int) { syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

func rawShutdown(fd, how int) { syscall.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0) }

func rawSetInt(fd, level, opt, v int) {
	v32 := int32(v)
	syscall.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v32)), 4, 0)
}

// rawAccept accepts a connection, non-blocking and close-on-exec, and
// returns the client's address.
func rawAccept(fd int) (int, netip.AddrPort, syscall.Errno) {
	var sa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	for {
		r, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, netip.AddrPort{}, e
		}
		return int(r), rawAddrPort(&sa), 0
	}
}

func rawAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), ntohs(a.Port))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), ntohs(a.Port))
	}
	return netip.AddrPort{}
}

// ntohs reads a port stored in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// rawDial creates a non-blocking TCP socket with TCP_NODELAY and starts its
// connect to target. connected reports a connect that completed at once.
func rawDial(target netip.AddrPort) (fd int, connected bool, err syscall.Errno) {
	a := target.Addr()
	var (
		sa  unsafe.Pointer
		n   uintptr
		fam = unix.AF_INET
		s4  unix.RawSockaddrInet4
		s6  unix.RawSockaddrInet6
	)
	port := (*[2]byte)(unsafe.Pointer(&s4.Port))
	if a.Is4() || a.Is4In6() {
		s4.Family = unix.AF_INET
		s4.Addr = a.Unmap().As4()
		sa, n = unsafe.Pointer(&s4), unix.SizeofSockaddrInet4
	} else {
		fam = unix.AF_INET6
		s6.Family = unix.AF_INET6
		s6.Addr = a.As16()
		port = (*[2]byte)(unsafe.Pointer(&s6.Port))
		sa, n = unsafe.Pointer(&s6), unix.SizeofSockaddrInet6
	}
	port[0], port[1] = byte(target.Port()>>8), byte(target.Port())
	r, _, e := syscall.RawSyscall(unix.SYS_SOCKET, uintptr(fam), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, false, e
	}
	fd = int(r)
	rawSetInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_, _, e = syscall.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), n)
	switch e {
	case 0:
		return fd, true, 0
	case unix.EINPROGRESS, unix.EINTR:
		return fd, false, 0
	}
	rawClose(fd)
	return -1, false, e
}

// rawEpollWait collects ready events without waiting.
func rawEpollWait(epfd int, ev []unix.EpollEvent) int {
	r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(ev))), uintptr(len(ev)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(r)
}

// rawSplice moves up to n bytes from in to out, one of which is a pipe.
func rawSplice(in, out, n int) (int, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n),
			unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		if e != unix.EINTR {
			return int(r), e
		}
	}
}
