package scheduler

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// wrrScheduler is ip_vs_wrr.c, the interleaved weighted round-robin: passes
// over the list with a falling weight threshold cw, from mw down to 1 in
// steps of the weights' gcd di, picking every destination whose weight
// reaches cw.
//
// Deviation: an Update whose list and weights equal the previous one's is
// ignored, where the kernel would run ip_vs_wrr_dest_changed (resetting the
// cursor to the head and rounding cw) on every ipvsadm -e even if nothing
// changed. The table rebuilds its list on any state change, and a
// rebuild that changes nothing should not disturb the sequence; lvsd too
// only issues ipvsadm commands for real changes.
type wrrScheduler struct {
	mu  sync.Mutex // serializes Update
	cur atomic.Pointer[wrrSnap]
}

type wrrSnap struct {
	dests   []*table.Dest
	weights []int32 // weights seen by Update, to recognise a no-op Update
	mw, di  int32
	// state packs the kernel's ip_vs_wrr_mark cursor: cl (index of the
	// current destination, or head) in the low 32 bits and cw in the high
	// 32 bits, so that both move together in one compare-and-swap.
	state atomic.Uint64
}

func packWRR(cl, cw int32) uint64 { return uint64(uint32(cl)) | uint64(uint32(cw))<<32 }

func unpackWRR(v uint64) (cl, cw int32) { return int32(uint32(v)), int32(uint32(v >> 32)) }

func newWRR() *wrrScheduler {
	s := &wrrScheduler{}
	// ip_vs_wrr_init_svc on a service without destinations: di is 1, mw
	// and cw are 0. Each Update then acts as ip_vs_wrr_dest_changed.
	sn := &wrrSnap{di: 1}
	sn.state.Store(packWRR(head, 0))
	s.cur.Store(sn)
	return s
}

// Name returns "wrr".
func (s *wrrScheduler) Name() model.Scheduler { return model.SchedWRR }

// Update is ip_vs_wrr_dest_changed: the cursor returns to the head, di and
// mw are recomputed, and cw is kept where it can be: reset to mw when it
// exceeds it or is 0, otherwise rounded down to a multiple of the new di
// plus one when di > 1.
func (s *wrrScheduler) Update(dests []*table.Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if sameList(old.dests, old.weights, dests) {
		return
	}
	next := &wrrSnap{dests: dests, weights: weightsOf(dests)}
	// ip_vs_wrr_gcd_weight: gcd of the positive weights, 1 if none.
	g := 0
	maxw := 0
	for _, w := range next.weights {
		if w > 0 {
			if g > 0 {
				g = gcd(int(w), g)
			} else {
				g = int(w)
			}
		}
		// ip_vs_wrr_max_weight
		maxw = max(maxw, int(w))
	}
	if g == 0 {
		g = 1
	}
	next.di = int32(g)
	// mw is lowered by di-1 so that the last pass runs at cw == 1 and still
	// catches a weight lowered below di behind our back (see the comment
	// atop ip_vs_wrr.c).
	next.mw = int32(maxw) - (next.di - 1)
	_, cw := unpackWRR(sealCursor(&old.state))
	if cw > next.mw || cw == 0 {
		cw = next.mw
	} else if next.di > 1 {
		cw = (cw/next.di)*next.di + 1
	}
	next.state.Store(packWRR(head, cw))
	s.cur.Store(next)
}

// Schedule runs ip_vs_wrr_schedule on a copy of the cursor and publishes
// the result with compare-and-swap, retrying if another pick moved the
// cursor meanwhile.
func (s *wrrScheduler) Schedule(*table.Packet) *table.Dest {
	for {
		sn := s.cur.Load()
		v := sn.state.Load()
		if v == cursorSealed {
			runtime.Gosched()
			continue
		}
		d, nv := sn.pick(v)
		if nv == v || sn.state.CompareAndSwap(v, nv) {
			return d
		}
	}
}

// pick is ip_vs_wrr_schedule on the cursor v; it returns the destination
// (nil if none) and the cursor the kernel would leave behind, which moves
// even when no destination is found.
func (sn *wrrSnap) pick(v uint64) (*table.Dest, uint64) {
	cl, cw := unpackWRR(v)
	// No available dests?
	if sn.mw == 0 {
		return nil, v
	}
	n := int32(len(sn.dests))
	last := cl
	stop := int32(-2) // no stop until the last pass after a restart
	lastPass, restarted := false, false
	idx := cl
	for {
		// list_for_each_entry_continue: from the entry after idx to the
		// end of the list.
		for idx++; idx < n; idx++ {
			d := sn.dests[idx]
			if !d.Overloaded() && int32(d.Weight()) >= cw {
				return d, packWRR(idx, cw)
			}
			if idx == stop {
				// err_over: the cursor stays on the stop entry.
				return nil, packWRR(idx, cw)
			}
		}
		// Reached the head: the next pass asks for less weight.
		cw -= sn.di
		if cw <= 0 {
			cw = sn.mw
			// Stop if the last pass already ran, or if this whole
			// traversal started at the head and so checked every
			// destination down to weight 1. err_over leaves the cursor
			// at the head.
			if lastPass || last == head {
				return nil, packWRR(head, cw)
			}
			restarted = true
		}
		lastPass = cw <= sn.di
		if lastPass && restarted && last != head {
			// The first traversal ran at weight >= 1 only for the
			// destinations after last; finish with those up to last.
			stop = last
		}
		idx = head
	}
}
