//go:build linux

package ipvs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

// SchedulerAvailable reports whether the running kernel can schedule with
// name, and if not, why: its module ip_vs_NAME is loaded, built in, or
// installed for the kernel to load on demand (IPVS requests it when a
// service names it). Where the module lists cannot be read it cannot tell,
// and says yes.
func SchedulerAvailable(name string) (bool, string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return true, ""
	}
	return schedulerAvailable("/", unix.ByteSliceToString(u.Release[:]), name)
}

func schedulerAvailable(root, release, name string) (bool, string) {
	mod := "ip_vs_" + name
	if _, err := os.Stat(filepath.Join(root, "sys/module", mod)); err == nil {
		return true, ""
	}
	read := 0
	for _, f := range []string{"modules.builtin", "modules.dep"} {
		b, err := os.ReadFile(filepath.Join(root, "lib/modules", release, f))
		if err != nil {
			continue
		}
		read++
		for _, line := range bytes.Split(b, []byte("\n")) {
			path, _, _ := bytes.Cut(line, []byte(":"))
			base := filepath.Base(string(path))
			if base == mod+".ko" || strings.HasPrefix(base, mod+".ko.") {
				return true, ""
			}
		}
	}
	if read == 0 {
		return true, ""
	}
	return false, fmt.Sprintf("the running kernel (%s) has no %s scheduler: module %s is neither loaded, built in nor installed", release, name, mod)
}
