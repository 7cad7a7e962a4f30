//go:build !linux

package ipvs

import (
	"errors"
	"net/netip"
)

var errNotLinux = errors.New("ipvs: IPVS is part of the Linux kernel; this system has none")

// Available reports whether this kernel can carry the ipvs data plane: never
// outside Linux.
func Available() (bool, string) { return false, "IPVS is part of the Linux kernel; this is not Linux" }

// SchedulerAvailable says no outside Linux.
func SchedulerAvailable(string) (bool, string) {
	return false, "IPVS is part of the Linux kernel; this is not Linux"
}

// NewNetlinkKernel fails outside Linux.
func NewNetlinkKernel() (Kernel, error) { return nil, errNotLinux }

// NewNFTMarker fails outside Linux.
func NewNFTMarker(name string) (Marker, error) { return nil, errNotLinux }

func writeSysctl(key, value string) error        { return errNotLinux }
func ensureTunnelDevice(dev, kind string) error  { return errNotLinux }
func linkUp(dev string) error                    { return errNotLinux }
func addAddr(dev string, pfx netip.Prefix) error { return errNotLinux }
