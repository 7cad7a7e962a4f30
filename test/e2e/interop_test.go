//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/netnstest"
	"github.com/govs/govs/internal/testutil"
	govsrouter "github.com/govs/govs/router"
)

// An interop LAN: two VRRP routers (each govs or keepalived), a client and
// a real server on one bridge. A govs router proxies the VIP's port 80 to
// the real server; a keepalived router has no load balancer of its own
// (this kernel has no IPVS), so a small server in its namespace answers on
// the VIP instead. Either way the answer names who served it.
type lan struct {
	t      *testing.T
	fam    family
	br     *netnstest.NS
	client *netnstest.NS
	nodes  [2]*node
	cap    *netnstest.Capture
}

// family is one address family's plan of the LAN.
type family struct {
	name         string
	nodes        [2]string
	client, rs   string
	vip          string
	bits, vipLen int
}

var families = []family{
	{"ipv4", [2]string{"192.0.2.1", "192.0.2.2"}, "192.0.2.9", "192.0.2.20", "192.0.2.100", 24, 32},
	{"ipv6", [2]string{"2001:db8::1", "2001:db8::2"}, "2001:db8::9", "2001:db8::20", "2001:db8::100", 64, 128},
}

// url is the VIP's /from page.
func (f family) url() string {
	if strings.Contains(f.vip, ":") {
		return "http://[" + f.vip + "]/from"
	}
	return "http://" + f.vip + "/from"
}

// node is one VRRP router of the LAN.
type node struct {
	l         *lan
	i         int
	kind      string // "govs" or "keepalived"
	ns        *netnstest.NS
	addr      string
	prio      int
	advert    time.Duration
	preempt   bool
	unicast   bool
	g         *router
	k         *exec.Cmd
	klog      *testutil.Buffer
	kdone     chan struct{}
	kcfg      string
	helperTag string // the keepalived node's own server's name
}

func newLAN(t *testing.T, fam family, kinds [2]string) *lan {
	netnstest.Require(t)
	for _, b := range []string{"tcpdump", "keepalived", "curl"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s is missing: scripts/deps.sh installs it", b)
		}
	}
	l := &lan{t: t, fam: fam, br: netnstest.New(t, "br")}
	l.br.Run("ip", "link", "add", "br0", "type", "bridge")
	l.br.Run("ip", "link", "set", "br0", "up")
	port := 0
	join := func(name, addr string) *netnstest.NS {
		ns := netnstest.New(t, name)
		// No duplicate address detection, so that addresses (and the
		// link-local ones VRRP speaks from) are usable at once.
		ns.Run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
		port++
		p := fmt.Sprintf("p%d", port)
		netnstest.Veth(t, ns, "eth0", l.br, p)
		l.br.Run("ip", "link", "set", p, "master", "br0")
		ns.Addr("eth0", fmt.Sprintf("%s/%d", addr, fam.bits))
		return ns
	}
	l.client = join("client", fam.client)
	rs := join("rs", fam.rs)
	self, _ := os.Executable()
	ready := filepath.Join(t.TempDir(), "rs")
	rs.Start([]string{"GOVS_E2E_ROLE=http", "GOVS_E2E_NAME=rs", "GOVS_E2E_READY=" + ready, "GOVS_E2E_LISTEN=[::]:80"}, self)
	waitReady(t, ready)
	for i, k := range kinds {
		n := &node{l: l, i: i, kind: k, addr: fam.nodes[i], prio: 100, advert: 100 * time.Millisecond}
		n.ns = join(fmt.Sprintf("%s%d", k[:1], i), n.addr)
		if k == "keepalived" {
			n.helperTag = fmt.Sprintf("ka%d", i)
			f := filepath.Join(t.TempDir(), "ka")
			n.ns.Start([]string{"GOVS_E2E_ROLE=http", "GOVS_E2E_NAME=" + n.helperTag, "GOVS_E2E_READY=" + f,
				"GOVS_E2E_LISTEN=[::]:80"}, self)
			waitReady(t, f)
		}
		l.nodes[i] = n
	}
	// Adverts, ARP and neighbour discovery: everything that says who owns
	// the VIP.
	l.cap = l.br.Capture("br0", "arp or ip proto 112 or ip6 proto 112 or icmp6")
	return l
}

func (n *node) String() string {
	return fmt.Sprintf("%s %d (%s, priority %d)", n.kind, n.i+1, n.addr, n.prio)
}

func (n *node) peer() *node { return n.l.nodes[1-n.i] }

func (n *node) mac() string { return n.ns.MAC("eth0") }

const govsInteropCfg = `serial_no = 1
primary = %[1]s
backup = %[2]s
backup_active = 1
service = lvs
network = nat
dataplane = proxy
monitor_links = 1
vrrp_interface = eth0
vrrp_vrid = 51
vrrp_priority = %[3]d
vrrp_advert_ms = %[4]d
vrrp_preempt = %[5]d
%[6]s
virtual web {
    active = 1
    address = %[7]s eth0
    port = 80
    scheduler = rr
    server rs {
        address = %[8]s
        active = 1
    }
}
`

const keepalivedCfg = `global_defs {
    router_id %[1]s
    vrrp_version 3
    script_user root
}
vrrp_instance VI {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %[2]d
    advert_int %[3]s
    %[4]s
    %[5]s
    virtual_ipaddress {
        %[6]s/%[7]d dev eth0
    }
}
`

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// start runs the router's daemon with its current settings.
func (n *node) start() {
	t := n.l.t
	t.Helper()
	dir := t.TempDir()
	fam := n.l.fam
	switch n.kind {
	case "govs":
		uni := ""
		if n.unicast {
			uni = "vrrp_unicast_peers = " + n.peer().addr
		}
		cfg := filepath.Join(dir, "lvs.cf")
		writeFile(t, cfg, fmt.Sprintf(govsInteropCfg, n.addr, n.peer().addr, n.prio, n.advert.Milliseconds(),
			b2i(n.preempt), uni, fam.vip, fam.rs))
		n.g = startRouter(t, []string{"ip", "netns", "exec", n.ns.Name}, cfg)
	case "keepalived":
		pre, uni := "nopreempt", ""
		if n.preempt {
			pre = ""
		}
		if n.unicast {
			uni = fmt.Sprintf("unicast_src_ip %s\n    unicast_peer {\n        %s\n    }", n.addr, n.peer().addr)
		}
		cfg := filepath.Join(dir, "keepalived.conf")
		n.kcfg = cfg
		writeFile(t, cfg, fmt.Sprintf(keepalivedCfg, n.helperTag, n.prio, fmt.Sprintf("%.2f", n.advert.Seconds()),
			pre, uni, fam.vip, fam.vipLen))
		n.klog = &testutil.Buffer{}
		n.kdone = make(chan struct{})
		n.k = n.ns.Command("keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
			"--use-file", cfg, "--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"))
		n.k.Stdout, n.k.Stderr = n.klog, n.klog
		if err := n.k.Start(); err != nil {
			t.Fatal(err)
		}
		cmd, log, done := n.k, n.klog, n.kdone
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			select {
			case <-done:
			default:
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("keepalived %d log:\n%s", n.i+1, log.String())
			}
		})
	}
}

// signal sends sig to the router's daemon: for keepalived to the VRRP
// child process that does the work, or with SIGTERM, as an operator
// would, to the parent that tells the child to stop.
func (n *node) signal(sig syscall.Signal) {
	if n.kind == "govs" {
		_ = n.g.cmd.Process.Signal(sig)
		return
	}
	if sig == syscall.SIGTERM {
		_ = n.k.Process.Signal(sig)
		return
	}
	for _, pid := range n.pids() {
		_ = syscall.Kill(pid, sig)
	}
}

// pids are the daemon's processes.
func (n *node) pids() []int {
	if n.kind == "govs" {
		return []int{n.g.cmd.Process.Pid}
	}
	pids := []int{n.k.Process.Pid}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(n.kcfg), "v.pid"))
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
		pids = append(pids, pid)
	}
	return pids
}

// running reports whether the daemon is still running.
func (n *node) running() bool {
	var done chan struct{}
	if n.kind == "govs" && n.g != nil {
		done = n.g.done
	} else if n.kind == "keepalived" && n.k != nil {
		done = n.kdone
	} else {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

var kaState = regexp.MustCompile(`\(VI\) Entering (MASTER|BACKUP|FAULT) STATE`)

// role is the router's own view: master, backup, fault or stopped.
func (n *node) role() string {
	if !n.running() {
		return "stopped"
	}
	if n.kind == "keepalived" {
		m := kaState.FindAllStringSubmatch(n.klog.String(), -1)
		if len(m) == 0 {
			return "initialize"
		}
		return strings.ToLower(m[len(m)-1][1])
	}
	out, _, code := govs(n.l.t, "status", "--json", "--socket", n.g.socket)
	var st govsrouter.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		return "unknown"
	}
	switch st.Role {
	case "active":
		return "master"
	case "backup", "fault":
		return st.Role
	}
	return "unknown"
}

// crash is a router losing power: it stops at once, its link goes down,
// and nothing it set up (such as the VIP on its interface) answers any
// more. The processes are stopped before the link goes down so that they
// cannot react to it.
func (n *node) crash() {
	n.signal(syscall.SIGSTOP)
	n.ns.Run("ip", "link", "set", "eth0", "down")
	n.signal(syscall.SIGKILL)
}

// served reports whether an answer from the VIP came from this router.
func (n *node) served(answer string) bool {
	f := strings.Fields(answer)
	if len(f) < 2 {
		return false
	}
	if n.kind == "keepalived" {
		return f[0] == n.helperTag
	}
	// Through govs the real server sees the router's own address, or for
	// IPv6, where source address selection prefers it, the VIP.
	return f[0] == "rs" && (f[1] == n.addr || f[1] == n.l.fam.vip)
}

// waitRoles waits, boundedly, until every node's role is one of the given
// ones ("master", "backup|stopped"; "" is not checked).
func (l *lan) waitRoles(within time.Duration, want ...string) {
	l.t.Helper()
	waitRoles(l.t, within, func(i int) string { return l.nodes[i].role() }, want...)
}

// get fetches the VIP's /from page from the client.
func (l *lan) get(ctx context.Context, timeout time.Duration) (string, error) {
	out, err := l.client.Try(ctx, "curl", "-sS", "-g", "--max-time", fmt.Sprintf("%.2f", timeout.Seconds()), l.fam.url())
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(out))
	}
	return strings.TrimSpace(out), nil
}

// neighMAC is the client's neighbour entry for the VIP.
func (l *lan) neighMAC() string { return l.client.NeighMAC(l.fam.vip, "eth0") }

// settle checks the end of a scenario: master is the one master, the
// client's neighbour entry points at it, a connection reaches its
// services, and nobody announced the VIP while it was not master.
func (l *lan) settle(master *node) {
	t := l.t
	t.Helper()
	want := []string{"", ""}
	want[master.i] = "master"
	want[1-master.i] = "backup|stopped|fault"
	l.waitRoles(5*time.Second, want...)
	// Longer than any announcement burst of a router that just left the
	// master role.
	time.Sleep(700 * time.Millisecond)
	l.waitRoles(0, want...)
	if got, mac := l.neighMAC(), master.mac(); got != mac {
		t.Errorf("the client's neighbour entry for %s is %q; the master, %v, is %s", l.fam.vip, got, master, mac)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ans, err := l.get(ctx, 3*time.Second); err != nil {
		t.Errorf("connection to the VIP: %v", err)
	} else if !master.served(ans) {
		t.Errorf("connection to the VIP answered %q, not by the master %v", ans, master)
	}
	l.checkAnnouncements(master)
}

// checkAnnouncements reads the capture and fails for every announcement
// of the VIP by a router that was not master at the time.
func (l *lan) checkAnnouncements(master *node) {
	t := l.t
	t.Helper()
	macs := map[string]*node{}
	for _, n := range l.nodes {
		macs[n.mac()] = n
	}
	vip := netip.MustParseAddr(l.fam.vip)
	evs := decodeFrames(t, l.cap.Stop(), vip)
	// A capture that missed the master's own adverts and announcements
	// would prove nothing.
	var adverts, announces int
	for _, e := range evs {
		if macs[e.mac] == master && e.advert != nil {
			adverts++
		} else if macs[e.mac] == master {
			announces++
		}
	}
	if adverts == 0 || announces == 0 {
		t.Errorf("the capture (%s) holds %d adverts and %d announcements of the master %v", l.cap.File(), adverts, announces, master)
	}
	bad := announcementsOutsideMastership(evs)
	for _, b := range bad {
		who := b.mac
		if n := macs[b.mac]; n != nil {
			who = n.String()
		}
		t.Errorf("%s announced %s at %s: %s", who, l.fam.vip, b.at.Format("15:04:05.000"), b.why)
	}
	if d := os.Getenv("GOVS_E2E_KEEP"); d != "" {
		// A copy of every capture, for Wireshark or tcpdump -r.
		b, _ := os.ReadFile(l.cap.File())
		_ = os.WriteFile(filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_")+".pcap"), b, 0o644)
	}
	if t.Failed() {
		t.Logf("capture (%d frames):\n%s", len(evs), describe(evs, macs))
	}
}

// prime makes the client resolve the VIP, so that it has a neighbour entry
// that announcements must keep right.
func (l *lan) prime(n *node) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := l.get(ctx, 3*time.Second)
	if err != nil {
		l.t.Fatalf("first connection to the VIP: %v", err)
	}
	if !n.served(ans) {
		l.t.Fatalf("first connection to the VIP answered %q, not by the master %v", ans, n)
	}
}

// masterDown is how long n, as backup, waits for a silent master whose
// adverts come every interval.
func (n *node) masterDown(interval time.Duration) time.Duration {
	return 3*interval + time.Duration(256-n.prio)*interval/256
}
