//go:build linux

package health

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// blackholeAddr returns a loopback listener whose accept queue is full, so
// that a further connect gets no answer to its SYN: a silent server
// without leaving the machine.
func blackholeAddr(t *testing.T, host string) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	ip := netip.MustParseAddr(host).As4()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ip}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	ap := netip.AddrPortFrom(netip.AddrFrom4(ip), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue; keep the connections open.
	for i := 0; i < 8; i++ {
		d := net.Dialer{Timeout: 100 * time.Millisecond}
		c, err := d.Dial("tcp", ap.String())
		if err != nil {
			return ap
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listen queue")
	return ap
}
