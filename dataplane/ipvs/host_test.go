//go:build linux

package ipvs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
)

// `govs realserver setup --mode direct --apply`, in a namespace of the
// host: the VIP on lo and the ARP sysctls, and nothing needed from IPVS.
func TestRealServerSetupApply(t *testing.T) {
	if os.Getenv(guestEnv) == "1" {
		t.Skip("the guest suite applies the setup in its real servers")
	}
	netnstest.Require(t)
	ns := netnstest.New(t, "rs")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(self)
	cmd.Env = append(os.Environ(), helperEnv+"=setup", "GOVS_IPVS_MODE=direct", "GOVS_IPVS_VIP=192.0.2.20")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if addrs := ns.Run("ip", "-4", "addr", "show", "dev", "lo"); !strings.Contains(addrs, "inet 192.0.2.20/32") {
		t.Errorf("VIP not on lo:\n%s", addrs)
	}
	for key, want := range map[string]string{
		"all/arp_ignore": "1", "all/arp_announce": "2", "lo/arp_ignore": "1", "lo/arp_announce": "2",
	} {
		if got := strings.TrimSpace(ns.Run("cat", "/proc/sys/net/ipv4/conf/"+key)); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	// Applying twice is harmless: an operator reruns the command.
	cmd = ns.Command(self)
	cmd.Env = append(os.Environ(), helperEnv+"=setup", "GOVS_IPVS_MODE=direct", "GOVS_IPVS_VIP=192.0.2.20")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second apply: %v\n%s", err, out)
	}
}

// TestIPVSInGuest runs the guest suite: scripts/ipvs-vm/run.sh boots
// Debian's kernel in qemu, since this machine's kernel may lack IPVS.
// GOVS_IPVS_VM=0 skips it (for a runner that calls the script itself).
func TestIPVSInGuest(t *testing.T) {
	switch {
	case os.Getenv(guestEnv) == "1":
		t.Skip("already in the guest")
	case os.Getenv("GOVS_IPVS_VM") == "0":
		t.Skip("GOVS_IPVS_VM=0")
	case testing.Short():
		t.Skip("boots a virtual machine; not in -short")
	case os.Geteuid() != 0:
		t.Skip("needs root to install qemu and build the guest image (CI runs as root)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			t.Skip("needs apt-get to install qemu, or qemu installed")
		}
	}
	script, err := filepath.Abs("../../scripts/ipvs-vm/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Log(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("guest suite: %v", err)
	}
}
