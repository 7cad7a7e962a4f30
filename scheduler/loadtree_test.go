package scheduler

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// scans pairs each tree-backed scheduler with the kernel scan it must
// agree with.
var scans = []struct {
	name model.Scheduler
	scan func([]*table.Dest) *table.Dest
}{
	{model.SchedLC, pickLC},
	{model.SchedWLC, pickWLC},
	{model.SchedSED, pickSED},
	{model.SchedNQ, pickNQ},
	{model.SchedFO, pickFO},
	{model.SchedOVF, pickOVF},
}

// randomDests makes n destinations with small weights, so that ties are
// common, and random thresholds, so that the overload flag comes and goes.
func randomDests(r *rand.Rand, n int) []*table.Dest {
	ds := make([]*table.Dest, n)
	for i := range ds {
		rs := model.RealServer{
			Addr:   netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}),
			Port:   80,
			Weight: r.IntN(4),
		}
		if r.IntN(3) == 0 {
			rs.UpperThreshold = uint32(1 + r.IntN(12))
			if r.IntN(2) == 0 {
				rs.LowerThreshold = uint32(r.IntN(int(rs.UpperThreshold)))
			}
		}
		ds[i] = table.NewDest(rs)
		ds[i].SetCounters(r.IntN(4), r.IntN(16), 0)
	}
	return ds
}

// mutate changes the list the ways a service changes: connection counts
// move (and with them the overload flag), a weight changes, the list is
// replaced. It returns the list now in force.
func mutate(r *rand.Rand, s table.Scheduler, ds []*table.Dest) []*table.Dest {
	d := ds[r.IntN(len(ds))]
	switch op := r.IntN(20); {
	case op < 16:
		// Small steps, as connections come and go, with a jump now and then.
		a, in := d.ActiveConns()+r.IntN(3)-1, d.InactiveConns()+r.IntN(5)-2
		switch op {
		case 0:
			a, in = r.IntN(8), r.IntN(2000)
		case 1, 2:
			a, in = r.IntN(3), r.IntN(12)
		}
		d.SetCounters(max(0, a), max(0, in), 0)
	case op < 19:
		d.SetWeight(r.IntN(4))
		s.Update(ds)
	default:
		next := append([]*table.Dest(nil), ds...)
		r.Shuffle(len(next), func(i, j int) { next[i], next[j] = next[j], next[i] })
		next = next[:1+r.IntN(len(next))]
		s.Update(next)
		return next
	}
	return ds
}

// TestTreesFollowKernelScans drives each tree-backed scheduler through
// random load changes and checks every decision against the kernel's scan
// of the same list.
func TestTreesFollowKernelScans(t *testing.T) {
	for _, sc := range scans {
		t.Run(string(sc.name), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(sc.name))))
			for round := range 60 {
				s := newTreeScheduler(t, sc.name, round%4)
				ds := randomDests(r, 1+r.IntN(70))
				s.Update(ds)
				for step := range 400 {
					got, want := s.Schedule(nil), sc.scan(ds)
					if got != want {
						t.Fatalf("round %d step %d: tree picked %s, the kernel's scan %s\n%s",
							round, step, keyOf(got), keyOf(want), describe(ds))
					}
					ds = mutate(r, s, ds)
				}
			}
		})
	}
}

// TestTwosTreeFollowsKernelScan checks that twos draws what the kernel's
// walk draws for the same random words.
func TestTwosTreeFollowsKernelScan(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	words := &pairRand{}
	for round := range 60 {
		s := newTwos(words)
		ds := randomDests(r, 1+r.IntN(70))
		s.Update(ds)
		for step := range 400 {
			x1, x2 := r.Uint64(), r.Uint64()
			switch step % 8 {
			case 0: // the draw of 0 and of the whole weight
				x1, x2 = 0, ^uint64(0)
			case 1:
				x1, x2 = 1<<63, 1
			}
			words.v, words.i = [2]uint64{x1, x2}, 0
			got, want := s.Schedule(nil), scanTwos(ds, x1, x2)
			if got != want {
				t.Fatalf("round %d step %d (words %#x %#x): tree drew %s, the kernel's walk %s\n%s",
					round, step, x1, x2, keyOf(got), keyOf(want), describe(ds))
			}
			ds = mutate(r, s, ds)
		}
	}
}

// TestTreesSettleAfterRaces changes loads from several goroutines while
// others schedule, then checks that, once the changes stop, every tree
// names what the scan names: no replay is lost to a race.
func TestTreesSettleAfterRaces(t *testing.T) {
	for _, sc := range scans {
		t.Run(string(sc.name), func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 3))
			ds := randomDests(r, 200)
			for _, d := range ds {
				d.SetWeight(1 + r.IntN(3))
			}
			s := newTreeScheduler(t, sc.name, 0)
			s.Update(ds)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					gr := rand.New(rand.NewPCG(uint64(g), 9))
					for range 3000 {
						d := ds[gr.IntN(len(ds))]
						d.SetCounters(gr.IntN(6), gr.IntN(900), 0)
					}
				}()
				go func() {
					defer wg.Done()
					for range 3000 {
						s.Schedule(nil)
					}
				}()
			}
			wg.Wait()
			if got, want := s.Schedule(nil), sc.scan(ds); got != want {
				t.Fatalf("after the races the tree picks %s, the scan %s", keyOf(got), keyOf(want))
			}
		})
	}
}

// TestTreeFollowsConnections checks that the tree follows load changes
// made by a service's own connections, not only by SetCounters: the
// table's connection events reach it.
func TestTreeFollowsConnections(t *testing.T) {
	tb := table.New(table.Options{NewScheduler: func(name model.Scheduler, _ model.SchedFlags) (table.Scheduler, error) {
		return newTreeScheduler(t, name, 0), nil
	}})
	svc := model.Service{
		Active: true, Proto: model.ProtoTCP, VIP: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: model.SchedLC,
	}
	for i := range 3 {
		svc.RealServers = append(svc.RealServers, model.RealServer{
			Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Port: 80, Weight: 1, Active: true,
		})
	}
	if _, err := tb.Apply(&model.Config{Services: []model.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	s := tb.Service(svc.Key())
	open := func(port uint16) *table.Conn {
		t.Helper()
		c, err := s.Schedule(&table.Packet{Proto: model.ProtoTCP,
			Src: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), port),
			Dst: netip.AddrPortFrom(svc.VIP, 80)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Three connections, one a server, still in their handshake: each
	// counts 1 inactive. Two become established (256 each): the next one
	// goes to the third server.
	var conns []*table.Conn
	for i := range 3 {
		conns = append(conns, open(uint16(4000+i)))
	}
	conns[0].SetState(table.ConnEstablished)
	conns[1].SetState(table.ConnEstablished)
	if c := open(4100); c.Dest() != conns[2].Dest() {
		t.Fatalf("after two servers' connections were established lc picked %s, not %s",
			keyOf(c.Dest()), keyOf(conns[2].Dest()))
	} else {
		c.SetState(table.ConnEstablished)
		conns = append(conns, c)
	}
	conns[2].SetState(table.ConnEstablished)
	// Closing a server's connections makes it the least loaded (two
	// inactive against 256 × 2 and 256 × 1).
	freed := conns[1].Dest()
	conns[1].Close()
	if c := open(4200); c.Dest() != freed {
		t.Fatalf("after closing %s's connection lc picked %s", keyOf(freed), keyOf(c.Dest()))
	}
}

// newTreeScheduler builds the lc-family scheduler name with a tree from
// treeMin servers on (0: always).
func newTreeScheduler(t testing.TB, name model.Scheduler, treeMin int) *listScheduler {
	s, err := New(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	ls := s.(*listScheduler)
	ls.treeMin = treeMin
	return ls
}

// pairRand hands out the two words a test set.
type pairRand struct {
	v [2]uint64
	i int
}

func (p *pairRand) Uint64() uint64 { p.i++; return p.v[(p.i-1)&1] }

func keyOf(d *table.Dest) string {
	if d == nil {
		return "none"
	}
	return d.Key().String()
}

func describe(ds []*table.Dest) string {
	out := ""
	for _, d := range ds {
		out += fmt.Sprintf("  %s w=%d active=%d inactive=%d overloaded=%v\n",
			d.Key(), d.Weight(), d.ActiveConns(), d.InactiveConns(), d.Overloaded())
	}
	return out
}
