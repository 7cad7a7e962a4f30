//go:build linux

package ipvs

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/listing"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// govs list -n and --stats read alike on both planes for the same
// traffic: the same rows, weights, states, active and inactive counts and
// connection totals. Packet and byte counters measure different things,
// and the test holds each plane to what it measures: the kernel counts
// every IP packet and its headers (SYN, pure ACKs and FIN included), the
// proxy the payload it relayed and one packet per MSS of it, so the
// kernel's counts are never below the proxy's, and the proxy's bytes are
// exactly the payload the clients and servers sent. (The kernel updates
// its counters every 2 s, its rates from them; --rate is the same
// estimator over these counters on both planes.)
func TestGuestListingParity(t *testing.T) {
	topology(t)
	g := newGuestPlane(t, Options{})
	kernel := &parityPlane{name: "kernel", tb: g.tb, apply: g.tryApply, base: 22000}
	prox := newParityProxy(t, 32000)
	type counts struct{ conns, inPkts, outPkts, inBytes, outBytes uint64 }
	var lists [2]string
	var stats [2]counts
	for j, p := range []*parityPlane{kernel, prox} {
		svc := svc3(model.SchedRR, 3, 2, 1)(p.base)
		r := &parityRun{t: t, p: p, port: p.base, cfg: model.Config{Global: model.Global{Network: model.ForwardNAT},
			Services: []model.Service{svc}}}
		r.apply()
		// Three short connections that each send a line and read it
		// back, and one held open.
		for range 3 {
			n, c := r.dial(parityClients[0])
			if c == nil {
				t.Fatalf("%s plane: no real server", p.name)
			}
			r.seq = append(r.seq, n)
			if err := echo(c); err != nil {
				t.Fatalf("%s plane: %v", p.name, err)
			}
			_ = c.(*net.TCPConn).CloseWrite()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.Copy(io.Discard, c)
			c.Close()
			r.wait(len(r.held))
		}
		r.long(parityClients[0])
		if p == kernel {
			// The kernel sums its per-CPU counters in its estimator,
			// every 2 s: read it until the four connections show.
			testutil.WaitFor(t, 6*time.Second, "the kernel's count of four connections", func() bool {
				if err := g.p.mirrorStats(); err != nil {
					t.Fatal(err)
				}
				return r.svc().Counters.Conns.Load() >= 4
			})
		}
		var b bytes.Buffer
		if err := listing.Write(&b, p.tb.Snapshot(), listing.Options{}); err != nil {
			t.Fatal(err)
		}
		// The planes' VIP ports differ by design.
		lists[j] = strings.ReplaceAll(b.String(), ":"+strconv.Itoa(int(p.base))+" ", ":PORT ")
		snap := p.tb.Snapshot()
		for _, s := range snap.Services {
			if s.Key == svc.Key().String() {
				stats[j] = counts{s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes}
			}
		}
		r.closeAll()
		_ = p.apply(&model.Config{Global: model.Global{Network: model.ForwardNAT}})
	}
	if lists[0] != lists[1] {
		t.Errorf("govs list -n differs\nkernel:\n%s\nproxy:\n%s", lists[0], lists[1])
	}
	k, p := stats[0], stats[1]
	t.Logf("--stats after the same traffic: kernel %+v, proxy %+v", k, p)
	if k.conns != 4 || p.conns != 4 {
		t.Errorf("connection totals: kernel %d, proxy %d; want 4 on both", k.conns, p.conns)
	}
	// Each client sent "ping\n" and each server its greeting ("rsN\n")
	// and the echo; the held connection only the greeting.
	if p.inBytes != 3*5 || p.outBytes != 4*4+3*5 {
		t.Errorf("proxy bytes in %d out %d, want the payload: 15 and 31", p.inBytes, p.outBytes)
	}
	if k.inBytes < p.inBytes || k.outBytes < p.outBytes || k.inPkts < p.inPkts || k.outPkts < p.outPkts {
		t.Errorf("the kernel counted less than the proxy relayed: kernel %+v, proxy %+v", k, p)
	}
}

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
