//go:build !linux

package proxy

import "syscall"

// listenControl leaves sockets as Go makes them: other systems have no
// IP_FREEBIND, so a VIP must be plumbed before it is bound, and Go already
// sets SO_REUSEADDR on TCP listeners where it matters.
func listenControl(network, address string, c syscall.RawConn) error { return nil }
