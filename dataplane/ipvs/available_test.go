//go:build linux

package ipvs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A scheduler is available when its module is loaded, built in, or
// installed; one the kernel has no module for is named with the reason.
func TestSchedulerAvailable(t *testing.T) {
	root := t.TempDir()
	rel := "6.1.0-test-amd64"
	mods := filepath.Join(root, "lib/modules", rel)
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mods, "modules.dep"), []byte(
		"kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/lib/libcrc32c.ko.xz\n"+
			"kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko.xz\n"+
			"kernel/net/netfilter/ipvs/ip_vs_wlc.ko: kernel/net/netfilter/ipvs/ip_vs.ko.xz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mods, "modules.builtin"), []byte("kernel/net/netfilter/ipvs/ip_vs_sh.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "sys/module/ip_vs_mh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"rr": true, "wlc": true, "sh": true, "mh": true, "twos": false, "w": false} {
		ok, why := schedulerAvailable(root, rel, name)
		if ok != want {
			t.Errorf("%s: available %v (%s), want %v", name, ok, why, want)
		}
		if !ok && !strings.Contains(why, "module ip_vs_"+name+" is neither loaded") {
			t.Errorf("%s: reason %q", name, why)
		}
	}
	// With no module lists to read, it cannot tell and does not refuse.
	if ok, _ := schedulerAvailable(t.TempDir(), rel, "twos"); !ok {
		t.Error("refused without module lists")
	}
}
