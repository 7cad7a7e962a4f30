package scheduler

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// benchDests builds n real servers with weights 1..10 and a spread of
// connection counts that keeps every one of them usable (active never above
// weight, so lblc caches stay valid and ovf has candidates) and none idle
// (so nq scans the whole list as sed does, its worst case).
func benchDests(n int) []*table.Dest {
	ds := make([]*table.Dest, n)
	for i := range ds {
		w := 1 + i%10
		ds[i] = table.NewDest(model.RealServer{
			Addr:   netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Port:   80,
			Weight: w,
		})
		ds[i].SetCounters(1+(i*7)%w, (i*13)%50, 0)
	}
	return ds
}

// benchPackets is a working set of 1024 connections from distinct clients
// to distinct destination addresses.
func benchPackets() []*table.Packet {
	ps := make([]*table.Packet, 1024)
	for i := range ps {
		ps[i] = &table.Packet{
			Proto: model.ProtoTCP,
			Src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), uint16(1024+i)),
			Dst:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 80),
		}
	}
	return ps
}

// BenchmarkSchedule measures one scheduling decision in steady state:
// lookup tables built, lblc/lblcr caches warm.
func BenchmarkSchedule(b *testing.B) {
	ps := benchPackets()
	for _, name := range model.Schedulers {
		for _, n := range []int{10, 100, 1000} {
			s, err := New(name, 0)
			if err != nil {
				b.Fatal(err)
			}
			s.Update(benchDests(n))
			for _, p := range ps {
				s.Schedule(p)
			}
			b.Run(fmt.Sprintf("%s/n=%d/serial", name, n), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if s.Schedule(ps[i&1023]) == nil {
						b.Fatal("nil pick")
					}
					i++
				}
			})
			b.Run(fmt.Sprintf("%s/n=%d/parallel", name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						s.Schedule(ps[i&1023])
						i++
					}
				})
			})
		}
	}
}

// BenchmarkUpdate measures rebuilding a scheduler's state for a list of n
// servers, the cost of a weight change or a server coming or going.
func BenchmarkUpdate(b *testing.B) {
	for _, name := range []model.Scheduler{model.SchedWRR, model.SchedSH, model.SchedMH, model.SchedWLC, model.SchedTWOS} {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				ds := benchDests(n)
				s, _ := New(name, 0)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					// Alternate lists so that no Update is a no-op.
					s.Update(ds[i&1:])
					i++
				}
			})
		}
	}
}

// BenchmarkLoadCycle measures what a load-based decision costs with the
// connection events that come with it: the decision, a connection opening
// on the chosen server and one ending elsewhere. "tree" is the scheduler
// as built (a decision reads a tree, each event replays log2(n) matches);
// "scan" is the kernel's scan per decision with the same events.
func BenchmarkLoadCycle(b *testing.B) {
	for _, sc := range scans {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/n=%d/tree", sc.name, n), func(b *testing.B) {
				ds := benchDests(n)
				s := newTreeScheduler(b, sc.name, 0)
				s.Update(ds)
				loadCycle(b, ds, func() *table.Dest { return s.Schedule(nil) })
			})
			b.Run(fmt.Sprintf("%s/n=%d/scan", sc.name, n), func(b *testing.B) {
				ds := benchDests(n)
				loadCycle(b, ds, func() *table.Dest { return sc.scan(ds) })
			})
		}
	}
}

func loadCycle(b *testing.B, ds []*table.Dest, pick func() *table.Dest) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d := pick()
		if d == nil {
			b.Fatal("nil pick")
		}
		d.SetCounters(d.ActiveConns()+1, d.InactiveConns(), 0)
		// A connection ends on the server after the one last ended on, so
		// loads stay level and every server keeps being chosen.
		e := ds[i%len(ds)]
		e.SetCounters(max(0, e.ActiveConns()-1), e.InactiveConns(), 0)
		i++
	}
}
