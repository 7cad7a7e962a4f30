// Package netnstest builds throw-away network topologies for tests: network
// namespaces joined by veth pairs and bridges, with processes started inside
// them. Everything a test creates is removed when the test ends, whether it
// passed or not, and only documentation addresses (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are meant to be used inside.
//
// It drives iproute2's `ip` rather than netlink directly because the tests
// then read like the commands an operator would type, and a failure shows
// the exact command that failed.
package netnstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Require skips the test unless it runs as root on Linux with iproute2.
func Require(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("network namespace test: needs Linux")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespace test: needs root (CI runs it as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespace test: needs iproute2's ip (scripts/deps.sh installs it)")
	}
}

var seq atomic.Int64

// NS is a network namespace.
type NS struct {
	Name string
	t    testing.TB
}

// New creates a namespace with loopback up; it is deleted, with every
// process still running in it, when the test ends. name is a short role
// ("client", "router"); the namespace's real name is made unique.
func New(t testing.TB, name string) *NS {
	t.Helper()
	full := fmt.Sprintf("govs-%d-%d-%s", os.Getpid(), seq.Add(1), name)
	ns := &NS{Name: full, t: t}
	Cmd(t, "ip", "netns", "add", full)
	t.Cleanup(func() { ns.destroy() })
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

func (n *NS) destroy() {
	out, _ := exec.Command("ip", "netns", "pids", n.Name).Output()
	for _, pid := range strings.Fields(string(out)) {
		_ = exec.Command("kill", "-9", pid).Run()
	}
	// Processes may take a moment to die and release the namespace.
	for range 50 {
		if err := exec.Command("ip", "netns", "del", n.Name).Run(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Errorf("could not delete network namespace %s", n.Name)
}

// Run runs a command inside the namespace and returns its output; the test
// fails if it fails.
func (n *NS) Run(args ...string) string {
	n.t.Helper()
	return Cmd(n.t, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Try runs a command inside the namespace and returns its output and error.
func (n *NS) Try(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Command returns an unstarted command that will run inside the namespace.
func (n *NS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Start starts a long-running command inside the namespace with extra
// environment variables; it is killed when the test ends.
func (n *NS) Start(env []string, args ...string) *exec.Cmd {
	n.t.Helper()
	cmd := n.Command(args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %v in %s: %v", args, n.Name, err)
	}
	n.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if n.t.Failed() && out.Len() > 0 {
			n.t.Logf("output of %v in %s:\n%s", args, n.Name, out.String())
		}
	})
	return cmd
}

// Veth joins namespace a's interface aIf to b's bIf and brings both up.
func Veth(t testing.TB, a *NS, aIf string, b *NS, bIf string) {
	t.Helper()
	Cmd(t, "ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.Run("ip", "link", "set", aIf, "up")
	b.Run("ip", "link", "set", bIf, "up")
}

// Addr adds an address (CIDR) to an interface of the namespace.
func (n *NS) Addr(ifname, cidr string) {
	n.t.Helper()
	args := []string{"ip", "addr", "add", cidr, "dev", ifname}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	n.Run(args...)
}

// Cmd runs a command on the host and returns its combined output; the test
// fails if it fails.
func Cmd(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// MAC returns the hardware address of an interface of the namespace.
func (n *NS) MAC(ifname string) string {
	n.t.Helper()
	return strings.TrimSpace(n.Run("cat", "/sys/class/net/"+ifname+"/address"))
}

// NeighMAC returns the namespace's neighbour entry for addr on ifname: the
// hardware address it would send to, or "" without one.
func (n *NS) NeighMAC(addr, ifname string) string {
	n.t.Helper()
	f := strings.Fields(n.Run("ip", "neigh", "show", addr, "dev", ifname))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}
