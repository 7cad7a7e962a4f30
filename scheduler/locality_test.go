package scheduler

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// toDst is a packet from a fixed client to destination address dst, the key
// of the lblc and lblcr caches.
func toDst(dst string) *table.Packet { return pkt("192.0.2.1", 40000, dst) }

func TestLBLC(t *testing.T) {
	const x, y = "203.0.113.1", "203.0.113.2"
	type step struct {
		do   func(s table.Scheduler, ds []*table.Dest)
		dst  string
		want string
	}
	tests := []struct {
		name  string
		dests func() []*table.Dest
		steps []step
	}{
		{
			// First pick by wlc, then the cache wins over wlc while the
			// cached server is not lblc-overloaded (active 1 is not
			// more than weight 1).
			name:  "cache sticks",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{dst: x, want: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { ds[0].SetCounters(1, 0, 0) }, dst: x, want: "A"},
				{dst: y, want: "B"},
			},
		},
		{
			// is_overloaded: active 2 > weight 1 and B has 0*2 < 1, so
			// wlc picks again and the entry now points at B.
			name:  "lblc-overloaded moves and re-caches",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{dst: x, want: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { ds[0].SetCounters(2, 0, 0) }, dst: x, want: "B"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { ds[0].SetCounters(0, 0, 0) }, dst: x, want: "B"},
			},
		},
		{
			// Busy beyond its weight but no server below half of its
			// own (B: 1*2 < 2 is false): stay.
			name:  "overloaded without an idle peer stays",
			dests: func() []*table.Dest { return mkDests(1, 2) },
			steps: []step{
				{dst: x, want: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest) {
					ds[0].SetCounters(2, 0, 0)
					ds[1].SetCounters(1, 0, 0)
				}, dst: x, want: "A"},
			},
		},
		{
			// A weight-0 server counts as a peer with 0*2 < 0 false.
			name:  "quiesced peer is not below half",
			dests: func() []*table.Dest { return mkDests(1, 0) },
			steps: []step{
				{dst: x, want: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { ds[0].SetCounters(5, 0, 0) }, dst: x, want: "A"},
			},
		},
		{
			// ip_vs_lblc_schedule checks AVAILABLE, weight and
			// is_overloaded for a cached server, not the threshold
			// OVERLOAD flag: it keeps getting its destinations, while
			// wlc skips it for new ones.
			name: "threshold overload ignored for cached server",
			dests: func() []*table.Dest {
				return []*table.Dest{mkDest(1, 1, 1), mkDest(2, 1, 0)}
			},
			steps: []step{
				{dst: x, want: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { ds[0].SetCounters(0, 1, 0) }, dst: x, want: "A"},
				{dst: y, want: "B"},
			},
		},
		{
			// Weight 0 invalidates the entry; it is rewritten to B and
			// stays B after A's weight returns.
			name:  "quiesced cached server",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{dst: x, want: "A"},
				{do: func(s table.Scheduler, ds []*table.Dest) { ds[0].SetWeight(0); s.Update(ds) }, dst: x, want: "B"},
				{do: func(s table.Scheduler, ds []*table.Dest) { ds[0].SetWeight(1); s.Update(ds) }, dst: x, want: "B"},
			},
		},
		{
			// A server that left the list is not AVAILABLE.
			name:  "removed cached server",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{dst: x, want: "A"},
				{do: func(s table.Scheduler, ds []*table.Dest) { s.Update(ds[1:]) }, dst: x, want: "B"},
				{do: func(s table.Scheduler, ds []*table.Dest) { s.Update(ds) }, dst: x, want: "B"},
			},
		},
		{
			// Removed and restored before the next lookup: the entry
			// still names A, which is available again (the kernel
			// revives a dest from its trash).
			name:  "restored before use",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{dst: x, want: "A"},
				{do: func(s table.Scheduler, ds []*table.Dest) { s.Update(ds[1:]); s.Update(ds) }, dst: x, want: "A"},
			},
		},
		{
			name:  "nothing eligible",
			dests: func() []*table.Dest { return mkDests(0, 0) },
			steps: []step{{dst: x, want: "-"}},
		},
		{
			// IPv6 destinations key the cache too; an IPv4-mapped
			// address is the same key as the IPv4 one: after it caches
			// B, x stays on B although wlc would now choose A.
			name:  "address forms",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{dst: "2001:db8::7", want: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { ds[0].SetCounters(0, 1, 0) }, dst: "::ffff:203.0.113.1", want: "B"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { ds[1].SetCounters(0, 5, 0) }, dst: x, want: "B"},
				{dst: "2001:db8::7", want: "A"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.dests()
			s := newSched(t, model.SchedLBLC, 0, WithClock(clock.NewFake(t0)))
			s.Update(ds)
			for i, st := range tc.steps {
				if st.do != nil {
					st.do(s, ds)
				}
				got := label(s.Schedule(toDst(st.dst)))
				if got != st.want {
					t.Fatalf("step %d: picked %s, want %s", i, got, st.want)
				}
			}
		})
	}
}

func TestLBLCR(t *testing.T) {
	const x = "203.0.113.1"
	set := func(s table.Scheduler) string {
		en := s.(*lblcrScheduler).cache.get(netip.MustParseAddr(x))
		if en == nil {
			return "none"
		}
		out := ""
		for _, d := range en.set.Load().dests {
			out += label(d)
		}
		return out
	}
	type step struct {
		do      func(s table.Scheduler, ds []*table.Dest, clk *clock.Fake)
		want    string
		wantSet string
	}
	tests := []struct {
		name  string
		dests func() []*table.Dest
		steps []step
	}{
		{
			// A new entry gets wlc's pick as its only member; the set
			// is then used even though wlc would now choose B.
			name:  "new set",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{want: "A", wantSet: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest, _ *clock.Fake) { ds[0].SetCounters(1, 0, 0) }, want: "A", wantSet: "A"},
			},
		},
		{
			// The set's pick is lblc-overloaded (active 2 > weight 1
			// while B is below half): wlc adds B at the front of the
			// set (list_add_rcu).
			name:  "replication",
			dests: func() []*table.Dest { return mkDests(1, 1) },
			steps: []step{
				{want: "A", wantSet: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest, _ *clock.Fake) { ds[0].SetCounters(2, 0, 0) }, want: "B", wantSet: "BA"},
				// Least loaded member of {B, A}.
				{want: "B", wantSet: "BA"},
				// Equal load: the first member in set order (B, the
				// newest) wins where wlc over the list would say A.
				{do: func(_ table.Scheduler, ds []*table.Dest, _ *clock.Fake) { ds[0].SetCounters(0, 0, 0) }, want: "B", wantSet: "BA"},
			},
		},
		{
			// ip_vs_dest_set_min skips members no longer AVAILABLE,
			// overloaded or at weight 0.
			name:  "set min skips unusable members",
			dests: func() []*table.Dest { return []*table.Dest{mkDest(1, 1, 0), mkDest(2, 1, 3), mkDest(3, 1, 0)} },
			steps: []step{
				{want: "A", wantSet: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest, _ *clock.Fake) { ds[0].SetCounters(2, 0, 0) }, want: "B", wantSet: "BA"},
				// B removed from the service: A is used again (load
				// back to 0).
				{do: func(s table.Scheduler, ds []*table.Dest, _ *clock.Fake) {
					ds[0].SetCounters(0, 0, 0)
					s.Update([]*table.Dest{ds[0], ds[2]})
				}, want: "A", wantSet: "BA"},
				// B back but overloaded by threshold, A quiesced:
				// nothing usable in the set, wlc picks C which joins.
				{do: func(s table.Scheduler, ds []*table.Dest, _ *clock.Fake) {
					ds[1].SetCounters(0, 3, 0)
					ds[0].SetWeight(0)
					s.Update(ds)
				}, want: "C", wantSet: "CBA"},
			},
		},
		{
			// A set unchanged for longer than the expiration drops its
			// weighted most loaded member; the pick made before the
			// drop stands. time_after is strict, and lastmod moves on
			// with the drop, so one member goes per period.
			name:  "expiration drops the most loaded",
			dests: func() []*table.Dest { return mkDests(1, 2) },
			steps: []step{
				{want: "A", wantSet: "A"},
				{do: func(_ table.Scheduler, ds []*table.Dest, clk *clock.Fake) {
					clk.Advance(time.Minute)
					ds[0].SetCounters(2, 0, 0) // B: 0*2 < 2
				}, want: "B", wantSet: "BA"},
				// B: overhead 512 / weight 2; A: 300 / 1. Min is B
				// (512*1 > 300*2 is false); max is A (512*1 < 300*2),
				// though A's raw overhead is lower.
				{do: func(_ table.Scheduler, ds []*table.Dest, clk *clock.Fake) {
					ds[0].SetCounters(1, 44, 0)
					ds[1].SetCounters(2, 0, 0)
					clk.Advance(time.Hour) // now == lastmod + expiration
				}, want: "B", wantSet: "BA"},
				{do: func(_ table.Scheduler, _ []*table.Dest, clk *clock.Fake) { clk.Advance(time.Millisecond) }, want: "B", wantSet: "B"},
				// A single member is never dropped.
				{do: func(_ table.Scheduler, _ []*table.Dest, clk *clock.Fake) { clk.Advance(30 * time.Minute) }, want: "B", wantSet: "B"},
			},
		},
		{
			name:  "nothing eligible",
			dests: func() []*table.Dest { return mkDests(0) },
			steps: []step{{want: "-", wantSet: "none"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.dests()
			clk := clock.NewFake(t0)
			s := newSched(t, model.SchedLBLCR, 0, WithClock(clk), WithExpiration(time.Hour))
			s.Update(ds)
			for i, st := range tc.steps {
				if st.do != nil {
					st.do(s, ds, clk)
				}
				if got := label(s.Schedule(toDst(x))); got != st.want {
					t.Fatalf("step %d: picked %s, want %s", i, got, st.want)
				}
				if got := set(s); got != st.wantSet {
					t.Fatalf("step %d: set %s, want %s", i, got, st.wantSet)
				}
			}
		})
	}
}

// lcCache reaches the cache of an lblc or lblcr scheduler.
func lcCache(s table.Scheduler) *lcTable {
	switch s := s.(type) {
	case *lblcScheduler:
		return &s.cache
	case *lblcrScheduler:
		return &s.cache
	}
	panic("not a locality scheduler")
}

// The periodic check fires every 60 s from creation; every 30th firing
// (at 30, 60, 90 ... minutes, since the counter starts at 1) sweeps out
// entries unused for the expiration. The check runs on the first Schedule
// after it is due, as of the time it was due.
func TestLocalityFullExpiry(t *testing.T) {
	for _, name := range []model.Scheduler{model.SchedLBLC, model.SchedLBLCR} {
		t.Run(string(name), func(t *testing.T) {
			x, y := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
			ds := mkDests(1, 1)

			// Default expiration, 24 h.
			clk := clock.NewFake(t0)
			s := newSched(t, name, 0, WithClock(clk))
			s.Update(ds)
			c := lcCache(s)
			s.Schedule(toDst(x.String()))
			clk.Advance(24*time.Hour - time.Minute)
			s.Schedule(toDst(y.String())) // full check at 23h30 keeps x
			if c.get(x) == nil || c.Len() != 2 {
				t.Fatalf("before 24 h: x present %v, %d entries", c.get(x) != nil, c.Len())
			}
			clk.Advance(time.Minute)
			s.Schedule(toDst(y.String())) // full check at exactly 24 h: lastuse + 24 h is not after now
			if c.get(x) != nil || c.get(y) == nil || c.Len() != 1 {
				t.Fatalf("at 24 h: x present %v, y present %v, %d entries", c.get(x) != nil, c.get(y) != nil, c.Len())
			}
			// x is scheduled afresh: wlc now prefers B.
			ds[0].SetCounters(3, 0, 0)
			if got := label(s.Schedule(toDst(x.String()))); got != "B" {
				t.Fatalf("rescheduled x to %s, want B", got)
			}

			// A use refreshes lastuse: used at 12 h, x survives the
			// 24 h check and goes at the 36 h one.
			clk = clock.NewFake(t0)
			s = newSched(t, name, 0, WithClock(clk))
			s.Update(ds)
			c = lcCache(s)
			s.Schedule(toDst(x.String()))
			clk.Advance(12 * time.Hour)
			s.Schedule(toDst(x.String()))
			clk.Advance(24*time.Hour - 12*time.Hour + 30*time.Second)
			s.Schedule(toDst(y.String()))
			if c.get(x) == nil {
				t.Fatal("x used at 12 h expired at 24 h")
			}
			clk.Set(t0.Add(36*time.Hour - time.Millisecond))
			s.Schedule(toDst(y.String()))
			if c.get(x) == nil {
				t.Fatal("x expired before the 36 h check")
			}
			clk.Set(t0.Add(36 * time.Hour))
			s.Schedule(toDst(y.String()))
			if c.get(x) != nil {
				t.Fatal("x used at 12 h survived the 36 h check")
			}

			// lblc_expiration / lblcr_expiration of 1 h.
			clk = clock.NewFake(t0)
			s = newSched(t, name, 0, WithClock(clk), WithExpiration(time.Hour))
			s.Update(ds)
			c = lcCache(s)
			s.Schedule(toDst(x.String()))
			clk.Advance(59 * time.Minute)
			s.Schedule(toDst(y.String()))
			if c.get(x) == nil {
				t.Fatal("x expired at the 30 min check")
			}
			clk.Advance(time.Minute)
			s.Schedule(toDst(y.String()))
			if c.get(x) != nil {
				t.Fatal("x survived the 60 min check")
			}
		})
	}
}

// Beyond 16 × 1024 entries, each firing evicts entries unused for 6 minutes
// bucket by bucket, starting after the rover, until 4/3 of the excess is
// gone; these firings do not advance the counter of the full check.
func TestLocalityEviction(t *testing.T) {
	for _, name := range []model.Scheduler{model.SchedLBLC, model.SchedLBLCR} {
		t.Run(string(name), func(t *testing.T) {
			clk := clock.NewFake(t0)
			s := newSched(t, name, 0, WithClock(clk), WithExpiration(30*time.Minute))
			s.Update(mkDests(1, 1))
			c := lcCache(s)
			// 10.0.0.0 + i for i < 20480: the bucket is (i × 0x9E3779B1)
			// mod 1024, a bijection on i mod 1024, so every bucket
			// holds exactly 20 entries.
			const n = 20480
			addr := func(i int) netip.Addr {
				return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			}
			for i := range n {
				s.Schedule(toDst(addr(i).String()))
			}
			if c.Len() != n {
				t.Fatalf("%d entries, want %d", c.Len(), n)
			}
			// bucketOf inverts the bijection by search.
			member := func(b int) netip.Addr {
				for i := range 1024 {
					if (uint32(i)*2654435761)&1023 == uint32(b) {
						return addr(i)
					}
				}
				panic("no member")
			}
			touch := func() { s.Schedule(toDst(addr(0).String())) } // bucket 0

			// Firings at 1..5 min: over max_size but nothing idle for 6
			// minutes yet.
			clk.Advance(5 * time.Minute)
			touch()
			if c.Len() != n {
				t.Fatalf("at 5 min: %d entries, want %d", c.Len(), n)
			}
			// At 6 min: goal (20480 - 16384) × 4/3 = 5461; 20 per bucket
			// from bucket 1 on, 274 buckets (5480 entries) reach it.
			clk.Advance(time.Minute)
			touch()
			if c.Len() != n-5480 {
				t.Fatalf("at 6 min: %d entries, want %d", c.Len(), n-5480)
			}
			for b, present := range map[int]bool{0: true, 1: false, 274: false, 275: true, 1023: true} {
				if (c.get(member(b)) != nil) != present {
					t.Errorf("bucket %d: present %v, want %v", b, !present, present)
				}
			}
			if c.rover != 274 {
				t.Errorf("rover %d, want 274", c.rover)
			}
			// The counter stayed at 1 through the evicting firings, so
			// the first full check (expiration 30 min) comes at the
			// 30th quiet firing: 36 min, not 30.
			clk.Set(t0.Add(35 * time.Minute))
			touch()
			if c.Len() != n-5480 {
				t.Fatalf("at 35 min: %d entries, want %d", c.Len(), n-5480)
			}
			clk.Set(t0.Add(36 * time.Minute))
			touch()
			if c.Len() != 1 || c.get(addr(0)) == nil {
				t.Fatalf("at 36 min: %d entries, want only the one used at 35 min", c.Len())
			}
		})
	}
}

// Many goroutines scheduling, updating and ageing the cache at once (run
// with -race).
func TestLocalityConcurrent(t *testing.T) {
	for _, name := range []model.Scheduler{model.SchedLBLC, model.SchedLBLCR} {
		t.Run(string(name), func(t *testing.T) {
			clk := clock.NewFake(t0)
			s := newSched(t, name, 0, WithClock(clk), WithExpiration(10*time.Minute))
			ds := mkDests(1, 2, 3, 4)
			s.Update(ds)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 5000 {
						d := s.Schedule(toDst(netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i % 64)}).String()))
						if d == nil {
							t.Error("nil pick")
							return
						}
						d.SetCounters(i%5, i%7, 0)
					}
				}()
			}
			for i := range 500 {
				clk.Advance(7 * time.Second)
				s.Update(ds[:1+i%len(ds)])
			}
			s.Update(ds)
			wg.Wait()
		})
	}
}
