package proxy

import (
	"fmt"
	"syscall"
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
