//go:build linux

package ipvs

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/listing"
	"github.com/govs/govs/model"
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
