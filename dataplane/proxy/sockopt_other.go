//go:build !linux

package proxy

import (
	"errors"
	"net"
	"syscall"
)

// listenControl leaves sockets as Go makes them: other systems have no
// IP_FREEBIND, so a VIP must be plumbed before it is bound, and Go already
// sets SO_REUSEADDR on TCP listeners where it matters.
func listenControl(network, address string, c syscall.RawConn) error { return nil }

// urgentInline does nothing here: urgent data is passed where the Linux
// calls exist.
func urgentInline(*net.TCPConn) error { return errors.ErrUnsupported }

// readMarked is Read here: no byte is reported urgent.
func readMarked(c *net.TCPConn, b []byte) (int, bool, error) {
	n, err := c.Read(b)
	return n, false, err
}

// sendUrgent sends b as an ordinary byte here.
func sendUrgent(c *net.TCPConn, b byte) error {
	_, err := c.Write([]byte{b})
	return err
}

// receiveDrops is 0 here: only Linux reports a socket's drops.
func receiveDrops(*net.UDPConn) uint64 { return 0 }
