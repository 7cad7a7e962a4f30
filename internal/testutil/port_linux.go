package testutil

import (
	"fmt"
	"os"
)

// portWindow is FreePort's window, outside the ephemeral range the kernel
// of this network namespace uses.
func portWindow() (uint16, uint16) {
	lo, hi := uint16(32768), uint16(60999) // the kernel's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var l, h uint16
		if _, err := fmt.Sscan(string(b), &l, &h); err == nil && l <= h {
			lo, hi = l, h
		}
	}
	return window(lo, hi)
}
