//go:build !linux

package health

import (
	"net/netip"
	"testing"
)

// blackholeAddr skips: a silent server on loopback relies on how Linux
// drops a SYN to a full accept queue, and on 127/8 being all local.
func blackholeAddr(t *testing.T, _ string) netip.AddrPort {
	t.Skip("a silent loopback server needs Linux")
	return netip.AddrPort{}
}
