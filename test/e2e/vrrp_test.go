//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
	"github.com/govs/govs/internal/testutil"
	govsrouter "github.com/govs/govs/router"
)

// The pair's configuration: r1 is primary (192.0.2.1), r2 backup
// (192.0.2.11), the VIP 192.0.2.100 on r0, a persistent service over two
// real servers behind the routers on 198.51.100.0/24.
var pairCfg = `serial_no = 1
primary = 192.0.2.1
backup = 192.0.2.11
backup_active = 1
service = lvs
network = nat
dataplane = proxy
monitor_links = 1
vrrp_advert_ms = %[1]d
vrrp_preempt = %[2]d
active_cmd = "/usr/bin/touch %[3]s/active"
inactive_cmd = "/usr/bin/touch %[3]s/inactive"

virtual web {
    active = 1
    address = 192.0.2.100 r0
    port = 80
    persistent = 300
    scheduler = rr
` + lvsServers("198.51.100.11", "198.51.100.12") + "}\n"

// pair is a client and two routers on one bridge, with two real servers
// on a second bridge behind the routers.
type pair struct {
	t       *testing.T
	client  *netnstest.NS
	routers [2]*netnstest.NS
	cfg     string
	// cmds is where active_cmd and inactive_cmd leave their marks.
	cmds    string
	running [2]*router
}

var routerAddrs = [2]string{"192.0.2.1", "192.0.2.11"}

// pairClients are the client's source addresses; the test curls from them
// in order, so rr gives them rs1, rs2, rs1, rs2.
var pairClients = []string{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"}

func newPair(t *testing.T, advertMS int, preempt bool) *pair {
	netnstest.Require(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: scripts/deps.sh installs it")
	}
	p := &pair{t: t, client: netnstest.New(t, "client")}
	lan, back := netnstest.New(t, "lan"), netnstest.New(t, "back")
	for _, ns := range []*netnstest.NS{lan, back} {
		ns.Run("ip", "link", "add", "br0", "type", "bridge")
		ns.Run("ip", "link", "set", "br0", "up")
	}
	port := func(ns *netnstest.NS, bridge *netnstest.NS, ifname, portName string) {
		netnstest.Veth(t, ns, ifname, bridge, portName)
		bridge.Run("ip", "link", "set", portName, "master", "br0")
	}
	port(p.client, lan, "c0", "lc")
	for _, a := range pairClients {
		p.client.Addr("c0", a+"/24")
	}
	p.client.Addr("c0", "192.0.2.50/24")
	for i := range p.routers {
		r := netnstest.New(t, fmt.Sprintf("r%d", i+1))
		p.routers[i] = r
		port(r, lan, "r0", fmt.Sprintf("l%d", i+1))
		port(r, back, "b0", fmt.Sprintf("k%d", i+1))
		r.Addr("r0", routerAddrs[i]+"/24")
		r.Addr("b0", fmt.Sprintf("198.51.100.%d/24", i+1))
	}
	readyDir := t.TempDir()
	var ready []string
	self, _ := os.Executable()
	for i := range 2 {
		rs := netnstest.New(t, fmt.Sprintf("rs%d", i+1))
		port(rs, back, "eth0", fmt.Sprintf("k%d", i+3))
		addr := fmt.Sprintf("198.51.100.%d", 11+i)
		rs.Addr("eth0", addr+"/24")
		f := filepath.Join(readyDir, fmt.Sprint(i))
		ready = append(ready, f)
		rs.Start([]string{"GOVS_E2E_ROLE=http", fmt.Sprintf("GOVS_E2E_NAME=rs%d", i+1), "GOVS_E2E_READY=" + f,
			"GOVS_E2E_LISTEN=" + addr + ":80"}, self)
	}
	waitReady(t, ready...)
	pre := 0
	if preempt {
		pre = 1
	}
	p.cfg = filepath.Join(t.TempDir(), "lvs.cf")
	p.cmds = t.TempDir()
	writeFile(t, p.cfg, fmt.Sprintf(pairCfg, advertMS, pre, p.cmds))
	return p
}

// start runs govs on router i (0: primary, 1: backup).
func (p *pair) start(i int) *router {
	p.t.Helper()
	r := startRouter(p.t, []string{"ip", "netns", "exec", p.routers[i].Name}, p.cfg)
	p.running[i] = r
	return r
}

func (p *pair) status(i int) govsrouter.Status {
	p.t.Helper()
	out, errOut, code := govs(p.t, "status", "--json", "--socket", p.running[i].socket)
	var st govsrouter.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		p.t.Fatalf("status of r%d: %s %s", i+1, out, errOut)
	}
	return st
}

// waitRoles waits, boundedly, until the routers have the given roles ("" is
// not checked).
func (p *pair) waitRoles(within time.Duration, roles ...string) {
	p.t.Helper()
	waitRoles(p.t, within, func(i int) string { return p.status(i).Role }, roles...)
}

// hasVIP reports whether router i holds the VIP.
func (p *pair) hasVIP(i int) bool {
	return strings.Contains(p.routers[i].Run("ip", "-4", "addr", "show", "dev", "r0"), "192.0.2.100/")
}

func (p *pair) mac(i int) string { return p.routers[i].MAC("r0") }

// neighMAC is the client's neighbour entry for the VIP.
func (p *pair) neighMAC() string { return p.client.NeighMAC("192.0.2.100", "c0") }

// curl fetches the VIP from src; it returns the real server's name.
func (p *pair) curl(ctx context.Context, src string, timeout time.Duration) (string, error) {
	out, err := p.client.Try(ctx, "curl", "-sS", "--max-time", fmt.Sprintf("%.2f", timeout.Seconds()),
		"--interface", src, "http://192.0.2.100/")
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return "", fmt.Errorf("empty answer")
	}
	return f[0], nil
}

// firstSuccess retries a connection from src until one succeeds and
// returns how long that took.
func (p *pair) firstSuccess(ctx context.Context, src string, within time.Duration) (string, time.Duration) {
	p.t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if s, err := p.curl(ctx, src, 150*time.Millisecond); err == nil {
			return s, time.Since(start)
		}
	}
	p.t.Fatalf("no connection through the VIP within %v", within)
	return "", 0
}

// owners curls once from every client and returns who served each.
func (p *pair) owners(ctx context.Context, clients []string) map[string]string {
	p.t.Helper()
	m := map[string]string{}
	for _, c := range clients {
		s, err := p.curl(ctx, c, 5*time.Second)
		if err != nil {
			p.t.Fatalf("curl from %s: %v", c, err)
		}
		m[c] = s
	}
	return m
}

// Both routers start at once: exactly one, the primary, becomes active and
// owns the VIP. Killing it makes the backup take the VIP over, move the
// client's neighbour entry to its MAC, serve new connections, and keep
// persistent clients on their real servers (state sync).
func TestVRRPFailoverOnKill(t *testing.T) {
	p := newPair(t, 100, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan struct{}, 2)
	for i := range 2 {
		go func() {
			// Sent even when start fails the test and ends the goroutine.
			defer func() { done <- struct{}{} }()
			p.start(i)
		}()
	}
	<-done
	<-done
	if t.Failed() {
		t.FailNow()
	}
	p.waitRoles(5*time.Second, "active", "backup")
	// Stable: still exactly one active a while later.
	time.Sleep(500 * time.Millisecond)
	p.waitRoles(0, "active", "backup")
	if !p.hasVIP(0) || p.hasVIP(1) {
		t.Fatalf("VIP on r1 %v, on r2 %v", p.hasVIP(0), p.hasVIP(1))
	}
	if st := p.status(1); st.Redundancy.Peer.String() != "192.0.2.1" || st.Redundancy.Master.String() != "192.0.2.1" || time.Since(st.Redundancy.LastAdvert) > time.Second {
		t.Errorf("backup's status: %+v", st)
	}
	out, _, _ := govs(t, "list", "--socket", p.running[1].socket)
	if !strings.Contains(strings.SplitN(out, "\n", 2)[0], "[backup, peer 192.0.2.1, last advert") {
		t.Errorf("list title on the backup:\n%s", out)
	}
	before := p.owners(ctx, pairClients)
	if before["192.0.2.2"] == before["192.0.2.3"] {
		t.Fatalf("rr put the first two clients on one server: %v", before)
	}
	if got, want := p.neighMAC(), p.mac(0); got != want {
		t.Fatalf("client's neighbour entry for the VIP: %q, want r1's %q", got, want)
	}
	// The backup learns the templates.
	testutil.WaitFor(t, 5*time.Second, "templates on the backup", func() bool {
		out, _, _ := govs(t, "list", "-c", "--socket", p.running[1].socket)
		return strings.Count(out, "192.0.2.") >= 2*len(pairClients)
	})

	// The backup does not serve: its proxy listeners stay bound (they are
	// IP_FREEBIND) but without the VIP the kernel delivers them nothing,
	// even when a client sends straight to the backup's MAC.
	p.client.Run("ip", "neigh", "replace", "192.0.2.100", "lladdr", p.mac(1), "dev", "c0", "nud", "stale")
	if s, err := p.curl(ctx, "192.0.2.50", 500*time.Millisecond); err == nil {
		t.Errorf("the backup served the VIP (%s)", s)
	}
	p.client.Run("ip", "neigh", "replace", "192.0.2.100", "lladdr", p.mac(0), "dev", "c0", "nud", "stale")
	if _, err := p.curl(ctx, "192.0.2.50", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	// Both ran inactive_cmd at start, r1 active_cmd on taking over.
	for _, f := range []string{"active", "inactive"} {
		if _, err := os.Stat(filepath.Join(p.cmds, f)); err != nil {
			t.Errorf("%s_cmd did not run: %v", f, err)
		}
	}
	_ = os.Remove(filepath.Join(p.cmds, "active"))

	p.running[0].stop(t, syscall.SIGKILL, 5*time.Second)
	// The first connection from 192.0.2.3 (rs2's) proves persistence: the
	// backup's own rr would start with rs1.
	srv, took := p.firstSuccess(ctx, "192.0.2.3", 10*time.Second)
	t.Logf("first connection through the VIP %v after SIGKILL", took)
	if srv != before["192.0.2.3"] {
		t.Errorf("client 192.0.2.3 moved from %s to %s", before["192.0.2.3"], srv)
	}
	p.waitRoles(time.Second, "", "active")
	if !p.hasVIP(1) {
		t.Error("r2 is active without the VIP")
	}
	testutil.WaitFor(t, 2*time.Second, "r2's active_cmd", func() bool {
		_, err := os.Stat(filepath.Join(p.cmds, "active"))
		return err == nil
	})
	testutil.WaitFor(t, 2*time.Second, "client's neighbour entry moving to r2", func() bool { return p.neighMAC() == p.mac(1) })
	rev := slices.Clone(pairClients)
	slices.Reverse(rev)
	after := p.owners(ctx, rev)
	for _, c := range pairClients {
		if after[c] != before[c] {
			t.Errorf("client %s: %s before the failover, %s after", c, before[c], after[c])
		}
	}
}

// The active router's link goes down: with monitor_links it gives up the
// role and the VIP (fault), and the backup takes over.
func TestVRRPFailoverOnLinkDown(t *testing.T) {
	p := newPair(t, 100, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.start(0)
	p.waitRoles(5*time.Second, "active")
	p.start(1)
	p.waitRoles(5*time.Second, "active", "backup")
	if _, err := p.curl(ctx, "192.0.2.2", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.routers[0].Run("ip", "link", "set", "r0", "down")
	_, took := p.firstSuccess(ctx, "192.0.2.2", 10*time.Second)
	t.Logf("first connection through the VIP %v after the link went down", took)
	p.waitRoles(2*time.Second, "fault", "active")
	if p.hasVIP(0) || !p.hasVIP(1) {
		t.Errorf("VIP on r1 %v, on r2 %v", p.hasVIP(0), p.hasVIP(1))
	}
	if got, want := p.neighMAC(), p.mac(1); got != want {
		t.Errorf("client's neighbour entry: %q, want r2's %q", got, want)
	}
	// The link returns: r1 rejoins as backup (no preemption).
	p.routers[0].Run("ip", "link", "set", "r0", "up")
	p.waitRoles(5*time.Second, "backup", "active")
}

// A returning higher-priority router takes the role back with preemption
// on, and stays backup with it off (pulse's behaviour, the default).
func TestVRRPPreemption(t *testing.T) {
	for _, preempt := range []bool{false, true} {
		t.Run(fmt.Sprintf("preempt=%v", preempt), func(t *testing.T) {
			p := newPair(t, 100, preempt)
			p.start(1)
			p.waitRoles(5*time.Second, "", "active")
			p.start(0)
			if preempt {
				p.waitRoles(5*time.Second, "active", "backup")
				if !p.hasVIP(0) || p.hasVIP(1) {
					t.Errorf("after preemption: VIP on r1 %v, on r2 %v", p.hasVIP(0), p.hasVIP(1))
				}
				return
			}
			p.waitRoles(5*time.Second, "backup", "active")
			time.Sleep(2 * time.Second) // twenty adverts
			p.waitRoles(0, "backup", "active")
		})
	}
}
