//go:build linux

package ipvs

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/govs/govs/internal/iface"
)

func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return os.WriteFile(path, []byte(value+"\n"), 0o644)
}

func ensureTunnelDevice(dev, kind string) error { return iface.EnsureLink(dev, kind) }

func linkUp(dev string) error { return iface.SetUp(dev) }

func addAddr(dev string, pfx netip.Prefix) error {
	return iface.AddAddr(iface.Addr{Device: dev, Prefix: pfx})
}
