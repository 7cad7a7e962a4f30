//go:build linux

package ipvs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/model"
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
