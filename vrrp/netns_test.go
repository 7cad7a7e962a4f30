package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
	"github.com/govs/govs/internal/testutil"
)

// TestMain doubles the test binary as a VRRP router inside a namespace:
// GOVS_VRRP_NODE names the state file it keeps current.
func TestMain(m *testing.M) {
	if f := os.Getenv("GOVS_VRRP_NODE"); f != "" {
		os.Exit(runNode(f))
	}
	os.Exit(m.Run())
}

// runNode runs one router on eth0 that owns GOVS_VRRP_VIP while master,
// until SIGTERM.
func runNode(stateFile string) int {
	prio, _ := strconv.Atoi(os.Getenv("GOVS_VRRP_PRIO"))
	local := netip.MustParseAddr(os.Getenv("GOVS_VRRP_LOCAL"))
	vip := VIP{Prefix: netip.MustParsePrefix(os.Getenv("GOVS_VRRP_VIP")), Device: "eth0"}
	cfg := Config{VRID: 42, Priority: uint8(prio), Interval: 50 * time.Millisecond, Local: local,
		Addrs: []netip.Addr{vip.Prefix.Addr()}}
	nw, err := ListenIP("eth0", local, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var term *Term
	in := NewInstance(cfg, nw, Options{OnChange: func(_, to State, _ string) {
		term.End()
		term = nil
		if to == Master {
			if err := AddAddrs([]VIP{vip}); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			term = StartTerm(ctx, NewLink(), Pace{Count: 3, Spacing: 50 * time.Millisecond}, nil)
			term.Announce(vip)
		} else {
			_ = RemoveAddrs([]VIP{vip})
		}
		_ = os.WriteFile(stateFile, []byte(to.String()), 0o600)
	}, OnReannounce: func() { term.Announce(vip) }})
	if err := in.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Two routers and a client on a bridge, for each family: the higher
// priority router becomes master and owns the VIP, the other stays backup
// (so adverts crossed the real link with TTL/hop limit 255 and a valid
// checksum); killed, the master's VIP moves, and the client's neighbour
// entry follows the gratuitous ARP or unsolicited NA.
func TestNamespaceElection(t *testing.T) {
	netnstest.Require(t)
	for _, fam := range []struct {
		name                       string
		a, b, client, vip, vipCIDR string
	}{
		{"ipv4", "192.0.2.1", "192.0.2.2", "192.0.2.9", "192.0.2.100", "192.0.2.100/32"},
		{"ipv6", "fe80::a", "fe80::b", "2001:db8::9", "2001:db8::100", "2001:db8::100/128"},
	} {
		t.Run(fam.name, func(t *testing.T) {
			lan := netnstest.New(t, "lan")
			lan.Run("ip", "link", "add", "br0", "type", "bridge")
			lan.Run("ip", "link", "set", "br0", "up")
			var ns []*netnstest.NS
			for i, name := range []string{"a", "b", "client"} {
				n := netnstest.New(t, name)
				// No duplicate address detection: addresses are usable at once.
				n.Run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
				netnstest.Veth(t, n, "eth0", lan, fmt.Sprintf("p%d", i))
				lan.Run("ip", "link", "set", fmt.Sprintf("p%d", i), "master", "br0")
				ns = append(ns, n)
			}
			if fam.name == "ipv4" {
				ns[0].Addr("eth0", fam.a+"/24")
				ns[1].Addr("eth0", fam.b+"/24")
				ns[2].Addr("eth0", fam.client+"/24")
			} else {
				ns[0].Addr("eth0", fam.a+"/64")
				ns[1].Addr("eth0", fam.b+"/64")
				ns[2].Addr("eth0", fam.client+"/64")
				ns[0].Addr("eth0", "2001:db8::1/64")
				ns[1].Addr("eth0", "2001:db8::2/64")
			}
			dir := t.TempDir()
			self, _ := os.Executable()
			start := func(i int, local string, prio int) (string, func()) {
				f := filepath.Join(dir, fmt.Sprint(i))
				cmd := ns[i].Start([]string{"GOVS_VRRP_NODE=" + f, "GOVS_VRRP_PRIO=" + strconv.Itoa(prio),
					"GOVS_VRRP_LOCAL=" + local, "GOVS_VRRP_VIP=" + fam.vipCIDR}, self)
				return f, func() { _ = cmd.Process.Kill() }
			}
			state := func(f string) string { b, _ := os.ReadFile(f); return string(b) }
			wait := func(what string, cond func() bool) {
				t.Helper()
				testutil.WaitFor(t, 5*time.Second, what, cond)
			}
			mac := func(i int) string { return ns[i].MAC("eth0") }
			neigh := func() string { return ns[2].NeighMAC(fam.vip, "eth0") }
			fa, killA := start(0, fam.a, 150)
			wait("a master", func() bool { return state(fa) == "master" })
			fb, _ := start(1, fam.b, 100)
			wait("b backup", func() bool { return state(fb) == "backup" })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// A connection attempt (refused: nothing listens) makes the
			// client resolve the VIP.
			host := fam.vip
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			_, _ = ns[2].Try(ctx, "curl", "-sS", "-g", "--max-time", "2", "http://"+host+":9/")
			if got := neigh(); got != mac(0) {
				t.Fatalf("client's entry %q, want a's %q", got, mac(0))
			}
			time.Sleep(300 * time.Millisecond) // six adverts: b must stay backup
			if state(fb) != "backup" {
				t.Fatalf("b is %s while a runs", state(fb))
			}
			killA()
			wait("b master", func() bool { return state(fb) == "master" })
			wait("client's entry moving to b", func() bool { return neigh() == mac(1) })
			if !strings.Contains(ns[1].Run("ip", "addr", "show", "dev", "eth0"), fam.vipCIDR) {
				t.Error("b is master without the VIP")
			}
		})
	}
}
