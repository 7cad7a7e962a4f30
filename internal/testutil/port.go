package testutil

import (
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
)

// FreePort returns a port that is free for TCP and for UDP on every
// address given (the unspecified IPv4 address if none is).
//
// A test should rather listen on port 0 itself (Listen) and hand the
// listener, or its address, to the code under test. FreePort is for what
// cannot take a listener: a child process that binds the port named on
// its command line or in its configuration (govs run's http_listen), or a
// data plane that binds the VIP:port of its configuration. Between
// FreePort's check and that bind, anything else may take the port; to
// make that unlikely, the port is chosen outside the kernel's ephemeral
// range (ip_local_port_range on Linux), from which every bind to port 0
// and every outgoing connection takes its port, so that none of those can
// take it, in whatever process; and each test process walks that window
// from its own starting point (by process ID), so that the packages'
// test binaries, which go test runs at once, do not pick the same ports.
// Only another explicit bind to that very port can still race with it.
func FreePort(t testing.TB, addrs ...netip.Addr) uint16 {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []netip.Addr{netip.IPv4Unspecified()}
	}
	lo, hi := portWindow()
	n := uint32(hi-lo) + 1
	start := uint32(os.Getpid()) * 7919 // a prime: nearby process IDs start far apart
	for range min(n, 2000) {
		p := lo + uint16((start+portSeq.Add(1))%n)
		if PortFree(p, addrs...) {
			return p
		}
	}
	t.Fatalf("no free port in %d-%d on %v", lo, hi, addrs)
	return 0
}

var portSeq atomic.Uint32

// PortFree reports whether port can be bound, for TCP and for UDP, on
// every address given. The sockets are closed again before it returns.
func PortFree(port uint16, addrs ...netip.Addr) bool {
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, port).String()
		l, err := net.Listen("tcp", ap)
		if err != nil {
			return false
		}
		l.Close()
		pc, err := net.ListenPacket("udp", ap)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

// firstPort is where FreePort's window starts: above the ports that
// services and the tests' own fixed ports (FTP passive ranges from 10000)
// use.
const firstPort = 20000

// window returns the ports from firstPort up to the ephemeral range
// [eLo, eHi], or above it if it leaves too few below, or, if it covers
// nearly everything, from firstPort to the top.
func window(eLo, eHi uint16) (uint16, uint16) {
	switch {
	case eLo > firstPort+1000:
		return firstPort, eLo - 1
	case eHi < 65535-1000:
		return max(eHi+1, firstPort), 65535
	default:
		return firstPort, 65535
	}
}
