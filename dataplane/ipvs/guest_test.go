//go:build linux

package ipvs

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/listing"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

func gServer(i int, port uint16, w int, fwd model.Forward) model.RealServer {
	return model.RealServer{Name: fmt.Sprintf("rs%d", i+1), Addr: gRS[i], Port: port, Weight: w,
		Active: true, Forward: fwd}
}

func gService(name string, proto model.Proto, vip netip.Addr, port uint16, sched model.Scheduler, rs ...model.RealServer) model.Service {
	return model.Service{Name: name, Active: true, Proto: proto, VIP: vip, Port: port, Scheduler: sched, RealServers: rs}
}

func hostPort(a netip.Addr, p uint16) string { return netip.AddrPortFrom(a, p).String() }

// names makes n connections and returns the distinct real servers met.
func names(t *testing.T, addr string, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	for range n {
		nm, err := name(addr)
		if err != nil {
			t.Fatalf("connection to %s: %v", addr, err)
		}
		seen[nm] = true
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// NAT, direct routing and tunnelling carry real TCP (and UDP, HTTP and
// IPv6) to the real servers, spread by the scheduler.
func TestGuestForwardingMethods(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{})
	nat := gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR,
		gServer(0, 8080, 1, 0), gServer(1, 8080, 1, 0))
	web := gService("http", model.ProtoTCP, vipNAT, 8000, model.SchedRR,
		gServer(0, 8000, 1, 0), gServer(2, 8000, 1, 0))
	dns := gService("dns", model.ProtoUDP, vipNAT, 53, model.SchedRR, gServer(0, 53, 1, 0), gServer(1, 53, 1, 0))
	// One-packet scheduling keeps no connection to translate replies by, so
	// it goes with direct routing.
	ops := gService("ops", model.ProtoUDP, vipDR, 53, model.SchedRR,
		gServer(1, 53, 1, model.ForwardDR), gServer(2, 53, 1, model.ForwardDR))
	ops.OnePacket = true
	dr := gService("dr", model.ProtoTCP, vipDR, 80, model.SchedRR,
		gServer(0, 80, 1, model.ForwardDR), gServer(1, 80, 1, model.ForwardDR))
	tun := gService("tun", model.ProtoTCP, vipTUN, 80, model.SchedRR,
		gServer(1, 80, 1, model.ForwardTUN), gServer(2, 80, 1, model.ForwardTUN))
	v6 := gService("v6", model.ProtoTCP, vip6, 80, model.SchedRR,
		model.RealServer{Name: "rs1", Addr: gRS6[0], Port: 8080, Weight: 1, Active: true},
		model.RealServer{Name: "rs3", Addr: gRS6[2], Port: 8080, Weight: 1, Active: true})
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT},
		Services: []model.Service{nat, web, dns, ops, dr, tun, v6}})

	for _, tc := range []struct {
		what, addr string
		want       []string
	}{
		{"NAT", hostPort(vipNAT, 80), []string{"rs1", "rs2"}},
		{"direct routing", hostPort(vipDR, 80), []string{"rs1", "rs2"}},
		{"tunnel", hostPort(vipTUN, 80), []string{"rs2", "rs3"}},
		{"IPv6 NAT", hostPort(vip6, 80), []string{"rs1", "rs3"}},
	} {
		if got := names(t, tc.addr, 4); !slices.Equal(got, tc.want) {
			t.Errorf("%s: reached %v, want %v", tc.what, got, tc.want)
		}
	}
	httpSeen := map[string]bool{}
	for range 4 {
		n, err := httpName("http://" + hostPort(vipNAT, 8000) + "/")
		if err != nil {
			t.Fatalf("HTTP through NAT: %v", err)
		}
		httpSeen[n] = true
	}
	if !httpSeen["rs1"] || !httpSeen["rs3"] {
		t.Errorf("HTTP reached %v, want rs1 and rs3", httpSeen)
	}
	for _, tc := range []struct {
		what, addr string
		want       []string
	}{
		{"UDP NAT", hostPort(vipNAT, 53), []string{"rs1", "rs2"}},
		{"one-packet UDP, direct routing", hostPort(vipDR, 53), []string{"rs2", "rs3"}},
	} {
		seen := map[string]bool{}
		for range 4 {
			n, err := udpName(tc.addr)
			if err != nil {
				t.Fatalf("%s: %v", tc.what, err)
			}
			seen[n] = true
		}
		if !seen[tc.want[0]] || !seen[tc.want[1]] {
			t.Errorf("%s reached %v, want %v", tc.what, seen, tc.want)
		}
	}
	out := ipvsadmList(t)
	for _, want := range [][2]string{{"198.51.100.11:80", "Route"}, {"198.51.100.13:80", "Tunnel"},
		{"198.51.100.11:8080", "Masq"}} {
		if !hasDest(out, want[0], want[1]) {
			t.Errorf("ipvsadm -L -n lacks %s as %s:\n%s", want[0], want[1], out)
		}
	}
	if !strings.Contains(out, "UDP  192.0.2.20:53 rr ops") {
		t.Errorf("ipvsadm -L -n lacks the one-packet service:\n%s", out)
	}
}

// hasDest reports whether an ipvsadm listing holds real server addr with
// forwarding method fwd.
func hasDest(list, addr, fwd string) bool {
	for _, l := range strings.Split(list, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "->" && f[1] == addr && f[2] == fwd {
			return true
		}
	}
	return false
}

// A mark service bundles 80 and 443 with persistence: one client meets one
// real server on both ports. Its marks come from govs's own nftables rules:
// nothing listens on the VIP, so only marked packets get an answer.
func TestGuestMarkBundle(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{})
	bundle := gService("bundle", model.ProtoTCP, vipMark, 80, model.SchedRR,
		gServer(0, 0, 1, 0), gServer(1, 0, 1, 0), gServer(2, 0, 1, 0))
	bundle.FWMark = 80
	bundle.MarkPorts = model.PortRanges{{First: 80, Last: 80}, {First: 443, Last: 443}}
	bundle.Persistence = model.Persistence{Timeout: 300 * time.Second}
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{bundle}})

	first, err := name(hostPort(vipMark, 80))
	if err != nil {
		t.Fatalf("marked port 80: %v", err)
	}
	for i := range 6 {
		port := uint16(80)
		if i%2 == 0 {
			port = 443
		}
		n, err := name(hostPort(vipMark, port))
		if err != nil {
			t.Fatalf("marked port %d: %v", port, err)
		}
		if n != first {
			t.Fatalf("port %d went to %s, port 80 to %s: persistence does not span the bundle", port, n, first)
		}
	}
	if _, err := name(hostPort(vipMark, 8080)); err == nil {
		t.Fatal("an unmarked port of the VIP answered: the test proves nothing about marks")
	}
	// Without govs's rules the service is unreachable: the marks are real.
	mustRun(t, "nft", "delete", "table", "inet", "govs")
	if _, err := name(hostPort(vipMark, 80)); err == nil {
		t.Fatal("port 80 answered with govs's mark rules deleted")
	}
	if err := g.p.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, err := name(hostPort(vipMark, 443)); err != nil {
		t.Fatalf("after repair: %v", err)
	}
}

// govs's rules read, in `nft list`, exactly as the same rules typed by hand.
func TestGuestMarkRulesMatchNft(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{})
	mk := func(name string, proto model.Proto, vip netip.Addr, mark uint32, ports ...model.PortRange) model.Service {
		s := gService(name, proto, vip, ports[0].First, model.SchedRR, gServer(0, 0, 1, 0))
		s.FWMark, s.MarkPorts = mark, ports
		s.Persistence = model.Persistence{Timeout: 60 * time.Second}
		return s
	}
	pr := func(a, b uint16) model.PortRange { return model.PortRange{First: a, Last: b} }
	svcs := []model.Service{
		mk("web", model.ProtoTCP, vipMark, 80, pr(80, 80), pr(443, 443)),
		mk("ftp", model.ProtoTCP, vipFTP, 21, pr(21, 21), pr(10000, 20000)),
		mk("one", model.ProtoTCP, vipNAT, 7, pr(8443, 8443)),
		mk("range", model.ProtoUDP, vipNAT, 8, pr(5000, 5100)),
		mk("dns6", model.ProtoUDP, vip6, 53, pr(53, 53), pr(5353, 5353)),
	}
	svcs[4].RealServers = []model.RealServer{{Name: "rs1", Addr: gRS6[0], Weight: 1, Active: true}}
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: svcs})

	hand := []string{
		"add table inet handwritten",
		"add chain inet handwritten prerouting { type filter hook prerouting priority mangle; policy accept; }",
		"add rule inet handwritten prerouting ip daddr 192.0.2.40 tcp dport { 80, 443 } meta mark set 80",
		"add rule inet handwritten prerouting ip daddr 192.0.2.41 tcp dport { 21, 10000-20000 } meta mark set 21",
		"add rule inet handwritten prerouting ip daddr 192.0.2.10 tcp dport 8443 meta mark set 7",
		"add rule inet handwritten prerouting ip daddr 192.0.2.10 udp dport 5000-5100 meta mark set 8",
		"add rule inet handwritten prerouting ip6 daddr 2001:db8::10 udp dport { 53, 5353 } meta mark set 53",
	}
	t.Cleanup(func() { _, _ = run("nft", "delete", "table", "inet", "handwritten") })
	for _, c := range hand {
		mustRun(t, append([]string{"nft"}, strings.Fields(c)...)...)
	}
	// govs orders its rules as the table orders services (by mark);
	// the comparison is line by line, in any order.
	sorted := func(s string) string {
		l := strings.Split(s, "\n")
		slices.Sort(l)
		return strings.Join(l, "\n")
	}
	ours := strings.ReplaceAll(mustRun(t, "nft", "list", "table", "inet", "govs"), "table inet govs", "table inet X")
	theirs := strings.ReplaceAll(mustRun(t, "nft", "list", "table", "inet", "handwritten"), "table inet handwritten", "table inet X")
	if sorted(ours) != sorted(theirs) {
		t.Fatalf("nft list differs.\ngovs:\n%s\nby hand:\n%s", ours, theirs)
	}
	t.Logf("nft list table inet govs:\n%s", mustRun(t, "nft", "list", "table", "inet", "govs"))
}

// A reload under a running client load fails no connection: real servers
// added, reweighted and dropped (they drain), services added and removed,
// persistence and timeouts changed. The scheduler stays: the kernel refuses
// new connections to a service for the moment it swaps its scheduler.
func TestGuestReloadUnderLoad(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{})
	base := func(variant int) *model.Config {
		s := gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedWLC, gServer(0, 8080, 1, 0), gServer(1, 8080, 2, 0))
		other := gService("other", model.ProtoTCP, vipNAT, 443, model.SchedRR, gServer(2, 443, 1, 0))
		cfg := &model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{s}}
		switch variant % 4 {
		case 1:
			cfg.Services[0].RealServers = append(cfg.Services[0].RealServers, gServer(2, 8080, 1, 0))
			cfg.Services = append(cfg.Services, other)
		case 2:
			cfg.Services[0].RealServers[0].Weight = 3
			cfg.Services[0].RealServers = append(cfg.Services[0].RealServers, gServer(2, 8080, 1, 0))
		case 3:
			cfg.Services[0].Persistence = model.Persistence{Timeout: 30 * time.Second}
			cfg.Global.TCPTimeout = 600 * time.Second
		}
		return cfg
	}
	g.apply(base(0))

	const workers, perWorker = 3, 150
	type result struct{ ok, failed int }
	results := make(chan result, workers)
	stop := make(chan struct{})
	errs := make(chan error, workers*perWorker)
	for range workers {
		go func() {
			var r result
			_ = inNS("cl", func() error {
				for range perWorker {
					select {
					case <-stop:
						return nil
					default:
					}
					c, err := net.DialTimeout("tcp", hostPort(vipNAT, 80), 3*time.Second)
					if err == nil {
						_ = c.SetDeadline(time.Now().Add(5 * time.Second))
						buf := make([]byte, 4)
						_, err = c.Read(buf)
						c.Close()
					}
					if err != nil {
						r.failed++
						errs <- err
					} else {
						r.ok++
					}
				}
				return nil
			})
			results <- r
		}()
	}
	reloads := 0
	for i := 1; i <= 12; i++ {
		time.Sleep(100 * time.Millisecond)
		g.apply(base(i))
		reloads++
	}
	close(stop)
	var total result
	for range workers {
		r := <-results
		total.ok += r.ok
		total.failed += r.failed
	}
	close(errs)
	for err := range errs {
		t.Errorf("connection failed: %v", err)
	}
	if total.failed > 0 || total.ok < 50 {
		t.Fatalf("%d connections, %d failed, across %d reloads", total.ok, total.failed, reloads)
	}
	t.Logf("%d connections, none failed, across %d reloads", total.ok, reloads)
}

// Drift repair: a real server deleted by hand comes back, a weight changed
// by hand is restored, a service added by hand stays; the log says what
// was repaired.
func TestGuestDriftRepair(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{RepairInterval: 300 * time.Millisecond})
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{
		gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 8080, 1, 0), gServer(1, 8080, 1, 0))}})
	want := ipvsadmList(t)
	t.Cleanup(func() { _, _ = run("ipvsadm", "-D", "-t", "192.0.2.99:80") })
	mustRun(t, "ipvsadm", "-d", "-t", "192.0.2.10:80", "-r", "198.51.100.11:8080")
	mustRun(t, "ipvsadm", "-e", "-t", "192.0.2.10:80", "-r", "198.51.100.12:8080", "-m", "-w", "7")
	mustRun(t, "ipvsadm", "-A", "-t", "192.0.2.99:80", "-s", "rr")
	mustRun(t, "ipvsadm", "-a", "-t", "192.0.2.99:80", "-r", "198.51.100.13:80", "-m")
	testutil.WaitFor(t, 10*time.Second, "repair of the hand-made changes", func() bool {
		got := ipvsadmList(t)
		return strings.Contains(got, "198.51.100.11:8080") && !strings.Contains(got, "Masq    7")
	})
	time.Sleep(700 * time.Millisecond) // more repair rounds: the foreign service must survive them
	got := ipvsadmList(t)
	if !strings.Contains(got, "TCP  192.0.2.99:80 rr") || !strings.Contains(got, "198.51.100.13:80") {
		t.Fatalf("the hand-made service was touched:\n%s", got)
	}
	if dropService(got, "TCP  192.0.2.99:80") != want {
		t.Errorf("after repair:\n%s\nwant govs's part as before:\n%s", got, want)
	}
	log := g.log.String()
	for _, w := range []string{"repaired drift", "add real server 198.51.100.11:8080", "edit real server 198.51.100.12:8080"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

// A health failure (the table moves a real server Down) removes it from
// the kernel; quiesce (weight 0) keeps its established connections while
// new ones go elsewhere; the kernel's counts reach the table.
func TestGuestHealthAndQuiesce(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{StatsInterval: 300 * time.Millisecond})
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}, Services: []model.Service{
		gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 80, 1, 0), gServer(1, 80, 1, 0))}})
	svc := g.tb.Service(model.TCPKey(netip.AddrPortFrom(vipNAT, 80)))
	first, conn, err := greet(hostPort(vipNAT, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	idx := map[string]int{"rs1": 0, "rs2": 1}
	held := model.DestKey{Addr: gRS[idx[first]], Port: 80}
	other := model.DestKey{Addr: gRS[1-idx[first]], Port: 80}
	testutil.WaitFor(t, 5*time.Second, "the kernel's active count in the table", func() bool {
		return svc.Dest(held).ActiveConns() == 1
	})

	svc.SetState(held, table.StateQuiesced, "test")
	testutil.WaitFor(t, 5*time.Second, "weight 0 in the kernel", func() bool {
		return strings.Contains(ipvsadmList(t), fmt.Sprintf("-> %-28s Masq    0", held.String()))
	})
	if err := echo(conn); err != nil {
		t.Fatalf("established connection to the quiesced server: %v", err)
	}
	for range 4 {
		n, err := name(hostPort(vipNAT, 80))
		if err != nil {
			t.Fatal(err)
		}
		if n == first {
			t.Fatal("a new connection went to the quiesced server")
		}
	}
	svc.SetState(other, table.StateDown, "health check failed")
	testutil.WaitFor(t, 5*time.Second, "the failed server removed from the kernel", func() bool {
		return !strings.Contains(ipvsadmList(t), other.String())
	})
	if err := echo(conn); err != nil {
		t.Fatalf("established connection after the other server failed: %v", err)
	}
	if !strings.Contains(ipvsadmList(t), held.String()) {
		t.Fatal("the quiesced server left the kernel")
	}
}

// The sync daemon runs as lvs.cf configures it and stops with the plane.
func TestGuestSyncDaemon(t *testing.T) {
	topology(t)
	t.Cleanup(func() {
		if out, _ := run("ipvsadm", "-L", "--daemon"); strings.TrimSpace(out) != "" {
			t.Errorf("sync daemon left running after Close:\n%s", out)
		}
	})
	g := newGuestPlane(t, Options{})
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT, SyncDaemon: true, SyncdIface: "rc", SyncdID: 7},
		Services: []model.Service{gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 80, 1, 0))}})
	out := mustRun(t, "ipvsadm", "-L", "--daemon")
	if !strings.Contains(out, "master sync daemon (mcast=rc, syncid=7") {
		t.Fatalf("ipvsadm -L --daemon:\n%s", out)
	}
	if err := g.p.SetSyncState(SyncBackup); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "ipvsadm", "-L", "--daemon")
	if !strings.Contains(out, "backup sync daemon (mcast=rc, syncid=7") || strings.Contains(out, "master") {
		t.Fatalf("after SetSyncState(backup), ipvsadm -L --daemon:\n%s", out)
	}
	if err := g.p.SetSyncState(SyncMaster); err != nil {
		t.Fatal(err)
	}
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT, SyncDaemon: true, SyncdIface: "rc", SyncdID: 7},
		Services: []model.Service{gService("nat", model.ProtoTCP, vipNAT, 80, model.SchedRR, gServer(0, 80, 1, 0))}})
}

// dropService removes one service and its real servers from an ipvsadm
// listing.
func dropService(list, header string) string {
	var out []string
	skip := false
	for _, l := range strings.SplitAfter(list, "\n") {
		if strings.HasPrefix(l, header) {
			skip = true
			continue
		}
		if skip && strings.HasPrefix(l, "  ->") {
			continue
		}
		skip = false
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// `govs list` (package listing) prints the table exactly as ipvsadm -L -n
// prints the kernel's, after its title line.
func TestGuestListingMatchesIpvsadm(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{})
	web := gService("web", model.ProtoTCP, vipNAT, 80, model.SchedWLC, gServer(0, 8080, 1, 0), gServer(1, 8080, 2, 0))
	// Thresholds well above what earlier tests leave: the kernel revives a
	// deleted real server with the counts of its connections still in
	// TIME_WAIT, and a reached threshold would make it refuse the test's.
	web.RealServers[0].UpperThreshold, web.RealServers[0].LowerThreshold = 60000, 50000
	dns := gService("dns", model.ProtoUDP, vipNAT, 53, model.SchedRR, gServer(0, 53, 1, 0))
	ops := gService("ops", model.ProtoUDP, vipDR, 53, model.SchedRR, gServer(1, 53, 1, model.ForwardDR))
	ops.OnePacket = true
	sh := gService("sh", model.ProtoTCP, vipDR, 80, model.SchedSH, gServer(0, 80, 1, model.ForwardDR), gServer(2, 80, 4, model.ForwardDR))
	sh.SchedFlags = model.FlagFallback | model.FlagPort
	tun := gService("tun", model.ProtoTCP, vipTUN, 80, model.SchedWRR, gServer(1, 80, 3, model.ForwardTUN), gServer(2, 80, 1, model.ForwardTUN))
	tun.Persistence = model.Persistence{Timeout: 300 * time.Second, PrefixLen: 24}
	mark := gService("bundle", model.ProtoTCP, vipMark, 80, model.SchedLC, gServer(0, 0, 1, 0), gServer(2, 0, 1, 0))
	mark.FWMark, mark.MarkPorts = 80, model.PortRanges{{First: 80, Last: 80}, {First: 443, Last: 443}}
	mark.Persistence = model.Persistence{Timeout: 600 * time.Second}
	v6 := gService("v6", model.ProtoTCP, vip6, 443, model.SchedMH,
		model.RealServer{Name: "rs1", Addr: gRS6[0], Port: 443, Weight: 1, Active: true},
		model.RealServer{Name: "rs2", Addr: gRS6[1], Port: 443, Weight: 2, Active: true})
	v6.Persistence = model.Persistence{Timeout: 60 * time.Second, PrefixLen: 64}
	g.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT},
		Services: []model.Service{web, dns, ops, sh, tun, mark, v6}})
	g.tb.Service(model.TCPKey(netip.AddrPortFrom(vipNAT, 80))).SetState(
		model.DestKey{Addr: gRS[1], Port: 8080}, table.StateQuiesced, "test")
	// One connection, so that the counts mirrored from the kernel are not
	// all zero.
	if _, err := name(hostPort(vipNAT, 80)); err != nil {
		t.Fatal(err)
	}
	if err := g.p.mirrorStats(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := listing.Write(&b, g.tb.Snapshot(), listing.Options{Numeric: true}); err != nil {
		t.Fatal(err)
	}
	if want := ipvsadmList(t); b.String() != want {
		t.Fatalf("govs list:\n%s\nipvsadm -L -n:\n%s", b.String(), want)
	}
	t.Logf("both list:\n%s", b.String())
}

// Loading 10,000 services of 10 real servers each: govs against
// ipvsadm -R with the same table, in the same guest. The sizes come from
// GOVS_IPVS_BENCH (services; 0 skips).
func TestGuestBenchmark(t *testing.T) {
	topology(t)
	n := 10000
	if v := os.Getenv("GOVS_IPVS_BENCH"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("GOVS_IPVS_BENCH=%q", v)
		}
	}
	if n <= 0 {
		t.Skip("GOVS_IPVS_BENCH=0")
	}
	const perService = 10
	cfg := &model.Config{Global: model.Global{Network: model.ForwardNAT}}
	var restore strings.Builder
	for i := range n {
		vip := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%250)})
		port := uint16(1000 + i/250)
		s := gService(fmt.Sprintf("s%d", i), model.ProtoTCP, vip, port, model.SchedWLC)
		fmt.Fprintf(&restore, "-A -t %s -s wlc\n", hostPort(vip, port))
		for j := range perService {
			rs := netip.AddrFrom4([4]byte{198, 51, 100, byte(101 + j)})
			s.RealServers = append(s.RealServers, model.RealServer{Name: fmt.Sprintf("r%d", j), Addr: rs, Port: 80, Weight: 1, Active: true})
			fmt.Fprintf(&restore, "-a -t %s -r %s -m -w 1\n", hostPort(vip, port), hostPort(rs, 80))
		}
		cfg.Services = append(cfg.Services, s)
	}
	file := t.TempDir() + "/restore"
	if err := os.WriteFile(file, []byte(restore.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each loader gets a network namespace of its own, so a fresh IPVS:
	// the kernel keeps deleted real servers in a trash list that every
	// later addition scans, so whoever loaded second into the same IPVS
	// would pay for the first one's table.
	fresh := func(ns string) {
		for _, c := range [][]string{{"ip", "netns", "add", ns}, {"ip", "-n", ns, "link", "set", "lo", "up"},
			{"ip", "-n", ns, "addr", "add", "198.51.100.1/24", "dev", "lo"}} {
			mustRun(t, c...)
		}
		t.Cleanup(func() { _, _ = run("ip", "netns", "del", ns) })
	}
	kernelIn := func(ns string) Kernel {
		var k Kernel
		if err := inNS(ns, func() (err error) { k, err = NewNetlinkKernel(); return err }); err != nil {
			t.Fatal(err)
		}
		return k
	}
	count := func(k Kernel) int {
		svcs, err := k.Services()
		if err != nil {
			t.Fatal(err)
		}
		return len(svcs)
	}

	fresh("bench-ipvsadm")
	k := kernelIn("bench-ipvsadm")
	defer k.Close()
	start := time.Now()
	if err := inNS("bench-ipvsadm", func() error { _, err := run("sh", "-c", "ipvsadm -R < "+file); return err }); err != nil {
		t.Fatal(err)
	}
	ipvsadmTime := time.Since(start)
	if c := count(k); c != n {
		t.Fatalf("ipvsadm -R loaded %d services, want %d", c, n)
	}
	start = time.Now()
	if err := inNS("bench-ipvsadm", func() error { _, err := run("ipvsadm", "-C"); return err }); err != nil {
		t.Fatal(err)
	}
	flushTime := time.Since(start)

	fresh("bench-govs")
	gk := kernelIn("bench-govs")
	var marker Marker
	if err := inNS("bench-govs", func() (err error) { marker, err = NewNFTMarker("govs"); return err }); err != nil {
		t.Fatal(err)
	}
	g := newGuestPlane(t, Options{Kernel: gk, Marker: marker})
	start = time.Now()
	g.apply(cfg)
	govsTime := time.Since(start)
	if c := count(gk); c != n {
		t.Fatalf("govs loaded %d services, want %d", c, n)
	}
	start = time.Now()
	if err := g.p.Reconcile(); err != nil {
		t.Fatal(err)
	}
	verifyTime := time.Since(start)
	start = time.Now()
	if err := g.p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	closeTime := time.Since(start)
	k2 := kernelIn("bench-govs")
	defer k2.Close()
	if c := count(k2); c != 0 {
		t.Fatalf("%d services left after Close", c)
	}
	fmt.Printf("ipvs-vm bench: %d services x %d real servers: ipvsadm -R %.2fs, govs %.2fs (%.2fx); "+
		"ipvsadm -C %.2fs, govs Close %.2fs; a full drift check %.2fs\n",
		n, perService, ipvsadmTime.Seconds(), govsTime.Seconds(), govsTime.Seconds()/ipvsadmTime.Seconds(),
		flushTime.Seconds(), closeTime.Seconds(), verifyTime.Seconds())
	if govsTime > ipvsadmTime {
		t.Logf("govs was slower than ipvsadm -R")
	}
}
