package scheduler

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

func TestRR(t *testing.T) {
	type step struct {
		update []int // indexes into dests for an Update before the picks; nil: none
		do     func(ds []*table.Dest)
		want   string
	}
	tests := []struct {
		name  string
		dests func() []*table.Dest
		steps []step
	}{
		{
			// ip_vs_rr_schedule: circular scan after the last pick.
			name:  "plain cycle",
			dests: func() []*table.Dest { return mkDests(1, 1, 1) },
			steps: []step{{want: "ABCABCA"}},
		},
		{
			// Weights do not matter except 0, which is skipped
			// ("any dest with weight=0 is quiesced").
			name:  "weights ignored, zero skipped",
			dests: func() []*table.Dest { return mkDests(5, 0, 1) },
			steps: []step{{want: "ACACA"}},
		},
		{
			// IP_VS_DEST_F_OVERLOAD is skipped like weight 0.
			name: "overloaded skipped",
			dests: func() []*table.Dest {
				return []*table.Dest{mkDest(1, 1, 0), overloaded(2, 1), mkDest(3, 1, 0)}
			},
			steps: []step{{want: "ACAC"}},
		},
		{
			// The cursor's own destination is checked last, so a
			// single eligible server is picked every time.
			name:  "single eligible",
			dests: func() []*table.Dest { return mkDests(0, 3, 0) },
			steps: []step{{want: "BBB"}},
		},
		{
			// A failed scan returns NULL and leaves sched_data where it
			// was: after A,B the next pick is C once load clears.
			name: "failed scan keeps cursor",
			dests: func() []*table.Dest {
				return []*table.Dest{mkDest(1, 1, 2), mkDest(2, 1, 2), mkDest(3, 1, 2)}
			},
			steps: []step{
				{want: "AB"},
				{do: func(ds []*table.Dest) { setCounters(ds, 1, 1) }, want: "--"},  // 2 conns reach the threshold of 2
				{do: func(ds []*table.Dest) { setCounters(ds, 0, 0) }, want: "CAB"}, // 0*4 < 2*3 clears OVERLOAD
			},
		},
		{
			// ip_vs_rr_del_dest: removing the cursor's destination
			// moves the cursor to its predecessor, so the next pick is
			// the removed one's successor.
			name:  "cursor dest removed",
			dests: func() []*table.Dest { return mkDests(1, 1, 1, 1) },
			steps: []step{
				{want: "AB"},
				{update: []int{0, 2, 3}, want: "CDAC"},
			},
		},
		{
			// Removing the first destination while the cursor is on it
			// moves the cursor to the list head.
			name:  "first dest removed under cursor",
			dests: func() []*table.Dest { return mkDests(1, 1, 1) },
			steps: []step{
				{want: "A"},
				{update: []int{1, 2}, want: "BCB"},
			},
		},
		{
			// Removing the cursor and its predecessor together: the
			// cursor falls back to the nearest survivor before them.
			name:  "cursor and predecessor removed",
			dests: func() []*table.Dest { return mkDests(1, 1, 1, 1, 1) },
			steps: []step{
				{want: "ABC"},
				{update: []int{0, 3, 4}, want: "DEA"},
			},
		},
		{
			// Removing another destination leaves the cursor alone.
			name:  "other dest removed",
			dests: func() []*table.Dest { return mkDests(1, 1, 1) },
			steps: []step{
				{want: "AB"},
				{update: []int{1, 2}, want: "CBC"},
			},
		},
		{
			// add_dest is NULL for rr: a destination inserted after
			// the cursor is simply the next one scanned.
			name:  "dest added after cursor",
			dests: func() []*table.Dest { return mkDests(1, 1, 1) },
			steps: []step{
				{update: []int{0, 1}, want: "A"},
				{update: []int{0, 2, 1}, want: "CBA"},
			},
		},
		{
			name:  "empty",
			dests: func() []*table.Dest { return nil },
			steps: []step{{want: "--"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.dests()
			s := newUpdated(t, model.SchedRR, 0, ds)
			for i, st := range tc.steps {
				if st.update != nil {
					var l []*table.Dest
					for _, j := range st.update {
						l = append(l, ds[j])
					}
					s.Update(l)
				}
				if st.do != nil {
					st.do(ds)
				}
				if got := seq(s, len(st.want), nil); got != st.want {
					t.Errorf("step %d: picks %q, want %q", i, got, st.want)
				}
			}
		})
	}
}

func TestWRR(t *testing.T) {
	type step struct {
		do   func(s table.Scheduler, ds []*table.Dest)
		want string
	}
	update := func(idx ...int) func(table.Scheduler, []*table.Dest) {
		return func(s table.Scheduler, ds []*table.Dest) {
			var l []*table.Dest
			for _, j := range idx {
				l = append(l, ds[j])
			}
			s.Update(l)
		}
	}
	reweight := func(i, w int) func(table.Scheduler, []*table.Dest) {
		return func(s table.Scheduler, ds []*table.Dest) {
			ds[i].SetWeight(w)
			s.Update(ds)
		}
	}
	tests := []struct {
		name  string
		dests func() []*table.Dest
		steps []step
	}{
		{
			// di = 1, mw = 4; passes at cw = 4, 3, 2, 1 pick every
			// dest with weight >= cw: A | A B | A B C | A B C.
			name:  "4 3 2",
			dests: func() []*table.Dest { return mkDests(4, 3, 2) },
			steps: []step{{want: "AABABCABC" + "AABABCABC"}},
		},
		{
			// di = gcd(2, 4) = 2, mw = 4 - (2 - 1) = 3: passes at
			// cw = 3 (B) and cw = 1 (A B).
			name:  "gcd 2",
			dests: func() []*table.Dest { return mkDests(2, 4) },
			steps: []step{{want: "BAB" + "BAB"}},
		},
		{
			// Weight 0 never reaches cw >= 1.
			name:  "zero weight",
			dests: func() []*table.Dest { return mkDests(2, 0, 1) },
			steps: []step{{want: "AAC" + "AAC"}},
		},
		{
			// An overloaded dest is passed over in every pass; the rest
			// keep their share: A at cw 3, 2, 1 and C at cw 1.
			name: "overloaded skipped",
			dests: func() []*table.Dest {
				return []*table.Dest{mkDest(1, 3, 0), overloaded(2, 2), mkDest(3, 1, 0)}
			},
			steps: []step{{want: "AAAC" + "AAAC"}},
		},
		{
			// mark->mw == 0: no available dests.
			name:  "all zero",
			dests: func() []*table.Dest { return mkDests(0, 0) },
			steps: []step{{want: "--"}},
		},
		{
			// After B at cw = 2 the cursor is (B, 2). All overloaded:
			// C fails, cw drops to 1 (last pass, not restarted), A B C
			// fail, cw wraps while last_pass -> err_over leaves the
			// cursor at the head with cw = mw = 2. Once load clears the
			// scan restarts from the head at cw 2 and picks B again,
			// where an undisturbed cursor would have picked A (cw 1).
			name: "err_over resets cursor to head",
			dests: func() []*table.Dest {
				return []*table.Dest{mkDest(1, 1, 2), mkDest(2, 2, 2), mkDest(3, 1, 2)}
			},
			steps: []step{
				{want: "B"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { setCounters(ds, 2, 0) }, want: "-"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { setCounters(ds, 0, 0) }, want: "BABC"},
			},
		},
		{
			// Cursor (A, 1) with everything overloaded: B fails, cw
			// wraps to mw = 2 (restarted), last pass is cw = 1 <= di
			// only after another decrement, so stop = A is set once
			// cw = 1; the scan A fails at stop -> err_over with the
			// cursor left on A and cw = 1. Afterwards B comes next,
			// exactly as if the failed pick had not happened.
			name: "stop at last keeps cursor",
			dests: func() []*table.Dest {
				return []*table.Dest{mkDest(1, 2, 1), mkDest(2, 1, 1)}
			},
			steps: []step{
				{want: "AA"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { setCounters(ds, 1, 0) }, want: "-"},
				{do: func(_ table.Scheduler, ds []*table.Dest) { setCounters(ds, 0, 0) }, want: "BAAB"},
			},
		},
		{
			// ip_vs_wrr_dest_changed: cursor to the head; cw (3) stays
			// since it is neither above the new mw (4) nor 0 and di is
			// 1. From the head at cw 3 every dest qualifies.
			name:  "weight raised mid-cycle",
			dests: func() []*table.Dest { return mkDests(4, 3, 2) },
			steps: []step{
				{want: "AAB"},
				{do: reweight(2, 4), want: "ABC" + "ABC" + "ABC" + "AC" + "ABC"},
			},
		},
		{
			// cw (4) above the new mw (3) is reset to mw.
			name:  "weight lowered below cw",
			dests: func() []*table.Dest { return mkDests(4, 3, 2) },
			steps: []step{
				{want: "A"},
				{do: reweight(0, 1), want: "BBCABC"},
			},
		},
		{
			// With di > 1, cw is rounded to (cw / di) * di + 1: after A
			// at cw 3 (weights 4, 2: di 2, mw 3), new weights 6, 3 give
			// di 3, mw 4 and cw (3/3)*3+1 = 4, so the next passes are
			// cw 4 (A) then cw 1 (A B). Without the rounding cw 3 would
			// have picked A then B.
			name:  "cw rounded to new gcd",
			dests: func() []*table.Dest { return mkDests(4, 2) },
			steps: []step{
				{want: "A"},
				{do: func(s table.Scheduler, ds []*table.Dest) {
					ds[0].SetWeight(6)
					ds[1].SetWeight(3)
					s.Update(ds)
				}, want: "AAB" + "AAB"},
			},
		},
		{
			// Removing a dest resets the cursor to the head too.
			name:  "dest removed",
			dests: func() []*table.Dest { return mkDests(2, 2, 1) },
			steps: []step{
				{want: "AB"},
				{do: update(0, 2), want: "AAC" + "AAC"},
			},
		},
		{
			// A dest added mid-cycle: head, cw kept at 2 (<= mw 2).
			name:  "dest added",
			dests: func() []*table.Dest { return mkDests(2, 1, 2) },
			steps: []step{
				{do: update(0, 1), want: "A"},
				{do: update(0, 2, 1), want: "AC" + "ACB"},
			},
		},
		{
			// An Update that changes nothing is ignored (see
			// wrrScheduler): the cycle goes on to B, where the
			// kernel's dest_changed would restart at the head with A.
			name:  "no-op update ignored",
			dests: func() []*table.Dest { return mkDests(2, 1) },
			steps: []step{
				{want: "AA"},
				{do: update(0, 1), want: "B"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.dests()
			s := newUpdated(t, model.SchedWRR, 0, ds)
			for i, st := range tc.steps {
				if st.do != nil {
					st.do(s, ds)
				}
				if got := seq(s, len(st.want), nil); got != st.want {
					t.Errorf("step %d: picks %q, want %q", i, got, st.want)
				}
			}
		})
	}
}

// Over one full cycle of sum(weights)/gcd picks, wrr picks every
// destination exactly weight/gcd times, whatever the weights.
func TestWRRCycleMatchesWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		n := 1 + r.IntN(12)
		ws := make([]int, n)
		total, g := 0, 0
		for i := range ws {
			if r.IntN(5) == 0 {
				ws[i] = 0
			} else {
				// Sometimes share a factor so that gcd > 1.
				f := []int{1, 1, 2, 3, 5}[r.IntN(5)]
				ws[i] = f * (1 + r.IntN(20))
			}
			total += ws[i]
			if ws[i] > 0 {
				if g == 0 {
					g = ws[i]
				} else {
					g = gcdTest(g, ws[i])
				}
			}
		}
		if total == 0 {
			continue
		}
		ds := mkDests(ws...)
		s := newUpdated(t, model.SchedWRR, 0, ds)
		for cycle := range 2 {
			count := map[*table.Dest]int{}
			for range total / g {
				d := s.Schedule(nil)
				if d == nil {
					t.Fatalf("iter %d weights %v: nil pick", iter, ws)
				}
				count[d]++
			}
			for i, d := range ds {
				if count[d] != ws[i]/g {
					t.Fatalf("iter %d cycle %d weights %v (gcd %d): %s picked %d times, want %d",
						iter, cycle, ws, g, label(d), count[d], ws[i]/g)
				}
			}
		}
	}
}

func gcdTest(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Concurrent picks must not lose or repeat a cursor step: with the list
// unchanged, G goroutines making a whole number of cycles between them
// land exactly on the weights.
func TestRRAndWRRConcurrentExact(t *testing.T) {
	for _, name := range []model.Scheduler{model.SchedRR, model.SchedWRR} {
		t.Run(string(name), func(t *testing.T) {
			ws := []int{5, 3, 2, 1, 4}
			ds := mkDests(ws...)
			s := newUpdated(t, name, 0, ds)
			cycle := 15 // sum of weights; rr picks 3 rounds of 5 per cycle
			const goroutines, cycles = 8, 400
			var mu sync.Mutex
			count := map[*table.Dest]int{}
			var wg sync.WaitGroup
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					local := map[*table.Dest]int{}
					for range cycles * cycle / goroutines {
						local[s.Schedule(nil)]++
					}
					mu.Lock()
					for d, c := range local {
						count[d] += c
					}
					mu.Unlock()
				}()
			}
			wg.Wait()
			for i, d := range ds {
				want := cycles * ws[i]
				if name == model.SchedRR {
					want = cycles * cycle / len(ds)
				}
				if count[d] != want {
					t.Errorf("%s picked %d times, want %d", label(d), count[d], want)
				}
			}
		})
	}
}

// Updates racing with picks must keep the scheduler consistent (run with
// -race): every pick returns a destination of the list current at some
// point, never a stale index past the end of a shorter list.
func TestRRAndWRRUpdateRace(t *testing.T) {
	for _, name := range []model.Scheduler{model.SchedRR, model.SchedWRR} {
		t.Run(string(name), func(t *testing.T) {
			ds := mkDests(3, 1, 2, 5, 1, 1)
			s := newUpdated(t, name, 0, ds)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if d := s.Schedule(nil); d == nil {
							t.Error("nil pick with an eligible list")
							return
						}
					}
				}()
			}
			for i := range 2000 {
				s.Update(ds[:1+i%len(ds)])
			}
			close(stop)
			wg.Wait()
		})
	}
}
