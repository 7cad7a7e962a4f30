package scheduler

import (
	"math/bits"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// load describes a destination for the load-based schedulers.
type load struct {
	w             int
	active, inact int
	overloaded    bool
}

// build makes destinations A, B, ... with the given weights and counters;
// overloaded ones get an upper threshold they reach.
func build(ls ...load) []*table.Dest {
	ds := make([]*table.Dest, len(ls))
	for i, l := range ls {
		var upper uint32
		if l.overloaded {
			upper = uint32(l.active + l.inact)
			if upper == 0 {
				upper = 1
				l.inact = 1
			}
		}
		ds[i] = mkDest(byte(i+1), l.w, upper)
		ds[i].SetCounters(l.active, l.inact, 0)
		if ds[i].Overloaded() != l.overloaded {
			panic("overload setup")
		}
	}
	return ds
}

func TestLoadSchedulers(t *testing.T) {
	tests := []struct {
		sched model.Scheduler
		name  string
		dests []load
		want  string
	}{
		// ip_vs_lc_schedule: least 256*active + inactive.
		{model.SchedLC, "least overhead", []load{{w: 1, active: 2}, {w: 1, active: 1, inact: 5}, {w: 1, active: 1, inact: 3}}, "C"},
		{model.SchedLC, "weights ignored", []load{{w: 1, inact: 100}, {w: 100, inact: 101}}, "A"},
		{model.SchedLC, "tie goes to first", []load{{w: 1, active: 1}, {w: 9, inact: 256}, {w: 1, inact: 300}}, "A"},
		{model.SchedLC, "weight 0 skipped", []load{{w: 0}, {w: 1, active: 3}}, "B"},
		{model.SchedLC, "overloaded skipped", []load{{w: 1, inact: 1, overloaded: true}, {w: 1, active: 3}}, "B"},
		{model.SchedLC, "none eligible", []load{{w: 0}, {w: 2, active: 1, overloaded: true}}, "-"},

		// ip_vs_wlc_schedule: least overhead/weight, loh*dw > doh*lw.
		{model.SchedWLC, "weighted", []load{{w: 1, active: 1}, {w: 3, active: 2}}, "B"},              // 256*3 > 512*1
		{model.SchedWLC, "exact tie keeps first", []load{{w: 1, active: 1}, {w: 2, active: 2}}, "A"}, // 256*2 == 512*1
		{model.SchedWLC, "inactive is 1/256 of active", []load{{w: 1, inact: 300}, {w: 1, active: 1}}, "B"},
		{model.SchedWLC, "zero load unbeatable", []load{{w: 1}, {w: 10}}, "A"}, // 0*10 > 0*1 is false
		// The starting candidate is the first dest with weight > 0 and
		// no OVERLOAD; a weight-0 dest before it is skipped even idle.
		{model.SchedWLC, "start skips weight 0", []load{{w: 0}, {w: 1, active: 1}, {w: 1, active: 2}}, "B"},
		// After the start only OVERLOAD is skipped; an idle weight-0
		// dest still loses, since loh*0 > 0*lw never holds.
		{model.SchedWLC, "later weight 0 never wins", []load{{w: 1, active: 5}, {w: 0}}, "A"},
		{model.SchedWLC, "overloaded skipped", []load{{w: 5, active: 1, overloaded: true}, {w: 1, active: 3}}, "B"},
		{model.SchedWLC, "none eligible", []load{{w: 0}}, "-"},

		// ip_vs_sed_schedule: least (active+1)/weight; inactive ignored.
		{model.SchedSED, "weighted", []load{{w: 1}, {w: 3, active: 1}}, "B"}, // 1*3 > 2*1
		{model.SchedSED, "inactive ignored", []load{{w: 1, inact: 1000}, {w: 1, active: 1}}, "A"},
		{model.SchedSED, "tie keeps first", []load{{w: 1, active: 1}, {w: 2, active: 3}}, "A"}, // 2*2 == 4*1
		{model.SchedSED, "start skips weight 0", []load{{w: 0}, {w: 1, active: 4}, {w: 2, active: 9}}, "B"},
		{model.SchedSED, "overloaded skipped", []load{{w: 9, active: 1, overloaded: true}, {w: 1, active: 2}}, "B"},

		// ip_vs_nq_schedule: first idle dest, else sed.
		{model.SchedNQ, "idle beats weight", []load{{w: 10, active: 1}, {w: 1}}, "B"},
		{model.SchedNQ, "first idle in list order", []load{{w: 1, active: 2}, {w: 1}, {w: 5}}, "B"},
		{model.SchedNQ, "idle with inactive conns still idle", []load{{w: 4, active: 1}, {w: 1, inact: 50}}, "B"},
		{model.SchedNQ, "no idle: sed", []load{{w: 1, active: 1}, {w: 4, active: 3}}, "B"}, // 2*4 > 4*1
		{model.SchedNQ, "no idle: sed tie keeps first", []load{{w: 1, active: 1}, {w: 2, active: 3}}, "A"},
		{model.SchedNQ, "idle weight 0 skipped", []load{{w: 0}, {w: 1, active: 1}}, "B"},
		{model.SchedNQ, "idle overloaded skipped", []load{{w: 1, inact: 1, overloaded: true}, {w: 1, active: 7}}, "B"},
		{model.SchedNQ, "none eligible", []load{{w: 0}, {w: 0}}, "-"},

		// ip_vs_fo_schedule: highest weight, first on ties, load ignored.
		{model.SchedFO, "highest weight", []load{{w: 1}, {w: 5, active: 100}, {w: 3}}, "B"},
		{model.SchedFO, "tie keeps first", []load{{w: 2}, {w: 5}, {w: 5}}, "B"},
		{model.SchedFO, "overloaded fails over", []load{{w: 1}, {w: 5, active: 1, overloaded: true}, {w: 3}}, "C"},
		{model.SchedFO, "all weight 0", []load{{w: 0}, {w: 0}}, "-"},

		// ip_vs_ovf_schedule: highest weight whose active <= weight.
		{model.SchedOVF, "overflow to next", []load{{w: 3, active: 2}, {w: 5, active: 6}, {w: 4, active: 4}}, "C"},
		{model.SchedOVF, "tie keeps first", []load{{w: 4}, {w: 4}}, "A"},
		{model.SchedOVF, "inactive ignored", []load{{w: 2, inact: 1000}, {w: 1}}, "A"},
		{model.SchedOVF, "all overflowing", []load{{w: 1, active: 2}, {w: 2, active: 3}}, "-"},
		{model.SchedOVF, "overloaded skipped", []load{{w: 9, active: 1, overloaded: true}, {w: 1}}, "B"},
	}
	for _, tc := range tests {
		t.Run(string(tc.sched)+"/"+tc.name, func(t *testing.T) {
			s := newUpdated(t, tc.sched, 0, build(tc.dests...))
			if got := seq(s, 1, nil); got != tc.want {
				t.Errorf("picked %s, want %s", got, tc.want)
			}
		})
	}
}

// The load schedulers follow the list they were last given and react to
// counters changing without an Update.
func TestLoadSchedulerUpdates(t *testing.T) {
	ds := build(load{w: 1, active: 1}, load{w: 1, active: 2}, load{w: 1, active: 3})
	s := newSched(t, model.SchedWLC, 0)
	if d := s.Schedule(nil); d != nil {
		t.Fatalf("empty scheduler picked %s", label(d))
	}
	s.Update(ds)
	if got := label(s.Schedule(nil)); got != "A" {
		t.Fatalf("picked %s, want A", got)
	}
	ds[0].SetCounters(4, 0, 0)
	if got := label(s.Schedule(nil)); got != "B" {
		t.Fatalf("after load change picked %s, want B", got)
	}
	s.Update(ds[2:])
	if got := label(s.Schedule(nil)); got != "C" {
		t.Fatalf("after removal picked %s, want C", got)
	}
}

// draw returns a random value that twos maps to r out of [0, n): the
// smallest v with floor(v × n / 2^64) = r, plus one to stay clear of the
// boundary.
func draw(r, n uint64) uint64 {
	q, _ := bits.Div64(r, 0, n) // floor(r × 2^64 / n)
	return q + 1
}

func TestTwos(t *testing.T) {
	// Weights A=1, B=2, C=3: total 6, draws over [0, 6] (7 values). A
	// draw r lands on the first dest where the running r - w <= 0:
	// 0, 1 -> A; 2, 3 -> B; 4, 5, 6 -> C.
	tests := []struct {
		name  string
		dests []load
		draws []uint64
		want  string
	}{
		{"draws A and C, C less loaded per weight", []load{{w: 1, active: 1}, {w: 2}, {w: 3, active: 1}}, []uint64{draw(1, 7), draw(5, 7)}, "C"}, // 3*256 > 1*256
		{"draws A and C, A idle", []load{{w: 1}, {w: 2}, {w: 3, active: 1}}, []uint64{draw(1, 7), draw(5, 7)}, "A"},                              // 3*0 > 1*256 false
		{"equal ratio keeps first choice", []load{{w: 1, active: 1}, {w: 2}, {w: 3, active: 3}}, []uint64{draw(0, 7), draw(6, 7)}, "A"},          // 3*256 == 1*768
		{"second draw wins", []load{{w: 1, active: 1}, {w: 2, active: 1}, {w: 3, active: 9}}, []uint64{draw(4, 7), draw(3, 7)}, "B"},             // 2*2304 > 3*256
		// Multiply-shift: 2^63 is half the range, 7/2 rounds down to 3
		// (B); 0 is 0 (A); 2^64-1 is 6 (C).
		{"range reduction", []load{{w: 1, active: 1}, {w: 2}, {w: 3}}, []uint64{1 << 63, 0}, "B"},                                            // B first, A second: 1*0 > 2*256 is false
		{"range ends", []load{{w: 1}, {w: 2}, {w: 3, active: 1}}, []uint64{1<<64 - 1, 0}, "A"},                                               // C vs A: 1*256 > 3*0
		{"same dest twice", []load{{w: 1}, {w: 2}, {w: 3}}, []uint64{draw(3, 7), draw(2, 7)}, "B"},                                           // both B
		{"overloaded left out of total", []load{{w: 1}, {w: 2, active: 1, overloaded: true}, {w: 3}}, []uint64{draw(1, 5), draw(2, 5)}, "A"}, // total 4+1=5: A and C; 3*0 > 1*0 false
		{"weight 0 left out", []load{{w: 0, active: 0}, {w: 2, active: 1}, {w: 3}}, []uint64{draw(2, 6), draw(3, 6)}, "C"},                   // total 5+1=6: B and C; 3*256 > 2*0
		{"draw covers the last dest", []load{{w: 1}, {w: 1}, {w: 1, active: 0}}, []uint64{draw(3, 4), draw(3, 4)}, "C"},                      // total 3+1=4: r=3 -> C
		{"no eligible: nothing drawn", []load{{w: 0}, {w: 1, active: 1, overloaded: true}}, nil, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fixedRand{vals: tc.draws}
			s, err := NewWithRand(model.SchedTWOS, 0, r)
			if err != nil {
				t.Fatal(err)
			}
			s.Update(build(tc.dests...))
			if got := seq(s, 1, nil); got != tc.want {
				t.Errorf("picked %s, want %s", got, tc.want)
			}
			if r.drawn() != len(tc.draws) {
				t.Errorf("drew %d random numbers, want %d", r.drawn(), len(tc.draws))
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, name := range model.Schedulers {
		s, err := New(name, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, s.Name())
		}
		// Every scheduler copes with no destinations and a nil packet.
		if d := s.Schedule(nil); d != nil {
			t.Errorf("%s: empty scheduler picked %s", name, label(d))
		}
		s.Update(nil)
		if d := s.Schedule(pkt("192.0.2.1", 1000, "198.51.100.1")); d != nil {
			t.Errorf("%s: empty scheduler picked %s", name, label(d))
		}
	}
	if s, err := New("", 0); err != nil || s.Name() != model.SchedWLC {
		t.Errorf(`New("") = %v, %v; want wlc`, s, err)
	}
	if _, err := New("wfq", 0); err == nil {
		t.Error("New(wfq) succeeded")
	}
}
