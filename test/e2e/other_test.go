//go:build !linux

package e2e

import "testing"

// The suite runs a router in network namespaces and talks to it with
// Linux's tools; elsewhere it says so rather than failing.
func TestEndToEndNeedsLinux(t *testing.T) {
	t.Skip("the end-to-end suite runs on Linux: it needs network namespaces, ip and curl")
}
