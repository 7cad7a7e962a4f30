//go:build linux

package ipvs

import (
	"bytes"
	"os"
	"path/filepath"

	"github.com/mdlayher/genetlink"
	"golang.org/x/sys/unix"
)

// Available reports whether this kernel can carry the ipvs data plane, and
// if not, why, so that lvs.cf's `dataplane = auto` can fall back to the
// userspace proxy and say so. It changes nothing (it loads no module).
func Available() (bool, string) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		return true, ""
	}
	if c, err := genetlink.Dial(nil); err == nil {
		_, ferr := c.GetFamily(genlName)
		c.Close()
		if ferr == nil {
			return true, ""
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		rel := unix.ByteSliceToString(u.Release[:])
		for _, f := range []string{"modules.dep", "modules.builtin"} {
			b, err := os.ReadFile(filepath.Join("/lib/modules", rel, f))
			if err == nil && (bytes.Contains(b, []byte("/ip_vs.ko:")) || bytes.Contains(b, []byte("/ip_vs.ko.")) || bytes.Contains(b, []byte("/ip_vs.ko\n"))) {
				return false, "the ip_vs kernel module is installed but not loaded (modprobe ip_vs)"
			}
		}
	}
	return false, "the kernel has no IPVS: no /proc/net/ip_vs, no IPVS netlink family and no ip_vs module"
}
