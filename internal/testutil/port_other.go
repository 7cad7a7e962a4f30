//go:build !linux

package testutil

// portWindow is FreePort's window. Elsewhere than on Linux the ephemeral
// range is taken to be IANA's, 49152-65535, which macOS and Windows use by
// default; FreeBSD's default starts at 10000, so there FreePort's ports
// are no safer from a bind to port 0 than one that bind picked.
func portWindow() (uint16, uint16) { return window(49152, 65535) }
