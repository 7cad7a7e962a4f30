//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
	"github.com/govs/govs/internal/testutil"
)

// The failover pair for many clients: IPv6, so that a thousand clients
// each have an address of their own (from 2001:db8:c::/64, routed to the
// client namespace's loopback), and four real servers, so that a client
// that lost its template lands elsewhere three times in four.
const persistPairCfg = `serial_no = 1
primary = 2001:db8::1
backup = 2001:db8::11
backup_active = 1
service = lvs
network = nat
dataplane = proxy
vrrp_advert_ms = 100

virtual web {
    active = 1
    address = 2001:db8::100 r0
    port = 80
    persistent = 300
    scheduler = rr
%s}
`

// GOVS_PERSIST_CLIENTS sets the number of clients (default 1000).
func persistClients() int {
	n := 1000
	if v := os.Getenv("GOVS_PERSIST_CLIENTS"); v != "" {
		_, _ = fmt.Sscan(v, &n)
	}
	return n
}

// Persistent clients keep their real server across a govs→govs failover
// under load: every client connects once through the primary, the backup
// receives the templates by state sync, the primary crashes (SIGKILL, link
// down) while the clients keep connecting, and then every client must
// reach the real server it had.
func TestPersistenceAcrossFailover(t *testing.T) {
	netnstest.Require(t)
	lan, back := netnstest.New(t, "lan"), netnstest.New(t, "back")
	for _, ns := range []*netnstest.NS{lan, back} {
		ns.Run("ip", "link", "add", "br0", "type", "bridge")
		ns.Run("ip", "link", "set", "br0", "up")
	}
	port := 0
	join := func(ns, bridge *netnstest.NS, ifname, cidr string) {
		port++
		p := fmt.Sprintf("p%d", port)
		netnstest.Veth(t, ns, ifname, bridge, p)
		bridge.Run("ip", "link", "set", p, "master", "br0")
		ns.Addr(ifname, cidr)
	}
	newNS := func(name string) *netnstest.NS {
		ns := netnstest.New(t, name)
		ns.Run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
		return ns
	}
	client := newNS("client")
	join(client, lan, "c0", "2001:db8::50/64")
	client.Run("ip", "-6", "route", "add", "local", "2001:db8:c::/64", "dev", "lo")
	var routers [2]*netnstest.NS
	for i, a := range []string{"2001:db8::1", "2001:db8::11"} {
		r := newNS(fmt.Sprintf("r%d", i+1))
		join(r, lan, "r0", a+"/64")
		join(r, back, "b0", fmt.Sprintf("2001:db8:b::%d/64", i+1))
		r.Run("ip", "-6", "route", "add", "2001:db8:c::/64", "via", "2001:db8::50")
		routers[i] = r
	}
	self, _ := os.Executable()
	var servers, ready []string
	for i := range 4 {
		rs := newNS(fmt.Sprintf("rs%d", i+1))
		addr := fmt.Sprintf("2001:db8:b::%d", 11+i)
		join(rs, back, "eth0", addr+"/64")
		f := filepath.Join(t.TempDir(), "ready")
		ready = append(ready, f)
		rs.Start([]string{"GOVS_E2E_ROLE=http", fmt.Sprintf("GOVS_E2E_NAME=rs%d", i+1), "GOVS_E2E_READY=" + f,
			"GOVS_E2E_LISTEN=[::]:80"}, self)
		servers = append(servers, addr)
	}
	waitReady(t, ready...)
	cfg := filepath.Join(t.TempDir(), "lvs.cf")
	writeFile(t, cfg, fmt.Sprintf(persistPairCfg, lvsServers(servers...)))
	var govsRouters [2]*router
	role := func(i int) string {
		out, _, _ := govs(t, "status", "--socket", govsRouters[i].socket)
		return out
	}
	govsRouters[0] = startRouter(t, []string{"ip", "netns", "exec", routers[0].Name}, cfg)
	testutil.WaitFor(t, 5*time.Second, "r1 active", func() bool { return strings.Contains(role(0), "active") })
	govsRouters[1] = startRouter(t, []string{"ip", "netns", "exec", routers[1].Name}, cfg)
	testutil.WaitFor(t, 5*time.Second, "r2 backup", func() bool { return strings.Contains(role(1), "backup") })

	n := persistClients()
	var srcs []string
	for i := range n {
		srcs = append(srcs, fmt.Sprintf("2001:db8:c::%x", i+1))
	}
	url := "http://[2001:db8::100]/from"
	before := runClients(t, client, url, srcs)
	for _, s := range srcs {
		if before[s] == "-" {
			t.Fatalf("client %s could not connect before the failover", s)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "every template on the backup", func() bool {
		out, _, _ := govs(t, "list", "-c", "--socket", govsRouters[1].socket)
		return strings.Count(out, "2001:db8:c::") >= n
	})

	// Load through the failover: the clients keep connecting, 16 at a time.
	load := client.Command(self)
	load.Env = append(os.Environ(), "GOVS_E2E_ROLE=clients", "GOVS_E2E_TARGET="+url, "GOVS_E2E_LOOP=1",
		"GOVS_E2E_PARALLEL=16")
	stdin, _ := load.StdinPipe()
	var loadOut testutil.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = load.Process.Kill(); _ = load.Wait() }()
	fmt.Fprintln(stdin, strings.Join(srcs, "\n")+"\n")
	time.Sleep(time.Second)
	_ = govsRouters[0].cmd.Process.Signal(syscall.SIGSTOP)
	routers[0].Run("ip", "link", "set", "r0", "down")
	_ = govsRouters[0].cmd.Process.Signal(syscall.SIGKILL)
	crashed := time.Now()
	testutil.WaitFor(t, 5*time.Second, "r2 active", func() bool { return strings.Contains(role(1), "active") })
	took := time.Since(crashed)
	time.Sleep(2 * time.Second)
	fmt.Fprintln(stdin, "stop")
	if err := waitExit(load, 30*time.Second); err != nil {
		t.Fatalf("load: %v %s", err, loadOut.String())
	}
	var ok, failed int
	fmt.Sscan(loadOut.String(), &ok, &failed)

	after := runClients(t, client, url, srcs)
	lost := 0
	for _, s := range srcs {
		if after[s] != before[s] {
			lost++
			if lost <= 5 {
				t.Logf("client %s: %s before the failover, %s after", s, before[s], after[s])
			}
		}
	}
	t.Logf("%d persistent clients, failover (r2 active %v after the crash) under load (%d connections answered, %d failed while the master died): %d lost their real server",
		n, took.Round(time.Millisecond), ok, failed, lost)
	if lost > 0 {
		t.Errorf("%d of %d persistent clients lost their real server", lost, n)
	}
}

// runClients connects once from each source and returns who answered
// ("-" for a failure).
func runClients(t *testing.T, ns *netnstest.NS, url string, srcs []string) map[string]string {
	t.Helper()
	self, _ := os.Executable()
	c := ns.Command(self)
	c.Env = append(os.Environ(), "GOVS_E2E_ROLE=clients", "GOVS_E2E_TARGET="+url)
	c.Stdin = strings.NewReader(strings.Join(srcs, "\n") + "\n\n")
	out, err := c.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("clients: %v %s", err, stderr)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	if len(m) != len(srcs) {
		t.Fatalf("clients answered for %d of %d sources", len(m), len(srcs))
	}
	return m
}
