package scheduler

import (
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// listScheduler holds the schedulers that keep no state of their own and
// only scan the destination list for the least loaded or heaviest one: lc,
// wlc, sed, nq, fo and ovf. Like their kernel modules they have no
// add/del/upd_dest hooks.
//
// A short list is scanned as the kernel scans it. From treeMin servers on,
// Update builds a tournament tree over the list in the scan's order, which
// the destinations keep current as their connections come and go
// (loadTree), and a decision reads its root: the same destination the scan
// finds, in constant time, for log2(n) work per connection event. Below
// treeMin the scan costs less than those events (BenchmarkLoadCycle).
type listScheduler struct {
	name    model.Scheduler
	rank    rank
	scan    func([]*table.Dest) *table.Dest
	treeMin int
	cur     atomic.Pointer[listState]
}

// listState is what Update publishes: the list, and its tree if it has one.
type listState struct {
	dests []*table.Dest
	tree  *loadTree
}

// treeMin is the list length from which the lc family keeps a tree. At 64
// servers a decision with its two connection events costs about the same
// either way; at 1,000 the tree is 5-8 times cheaper, at 10 the scan 2.5.
const treeMin = 64

func newList(name model.Scheduler, r rank, scan func([]*table.Dest) *table.Dest) *listScheduler {
	s := &listScheduler{name: name, rank: r, scan: scan, treeMin: treeMin}
	if r.loadFree {
		// Connection events do not reach its tree (see watchAll): the
		// tree wins at any length.
		s.treeMin = 0
	}
	s.cur.Store(&listState{})
	return s
}

// Name returns the scheduler's ipvsadm name.
func (s *listScheduler) Name() model.Scheduler { return s.name }

// Update publishes the new list, with a tree over it if it is long.
func (s *listScheduler) Update(dests []*table.Dest) {
	st := &listState{dests: dests}
	if len(dests) >= s.treeMin {
		st.tree = newLoadTree(s.rank, dests)
	}
	s.cur.Store(st)
}

// Schedule returns the tree's winner, or scans a short list.
func (s *listScheduler) Schedule(*table.Packet) *table.Dest {
	st := s.cur.Load()
	if st.tree != nil {
		return st.tree.best()
	}
	return s.scan(st.dests)
}

// The ranks are the kernel's scans below written as orders, one by one;
// the tests check each tree against its scan.
var (
	// ip_vs_lc_schedule: the least overhead (256 × active + inactive)
	// among destinations that are not overloaded and whose weight is not 0.
	rankLC = rank{
		eligible: (*table.Dest).Eligible,
		beats:    func(l, r *table.Dest) bool { return r.Overhead() < l.Overhead() },
	}
	// ip_vs_wlc_schedule: the least overhead/weight, by cross-multiplication
	// in 64 bits. The kernel's scan does not skip weight 0 after its first
	// candidate, but loh × 0 > doh × lw never holds, so such a destination
	// never wins.
	rankWLC = rank{
		eligible: (*table.Dest).Eligible,
		beats: func(l, r *table.Dest) bool {
			return int64(l.Overhead())*int64(r.Weight()) > int64(r.Overhead())*int64(l.Weight())
		},
	}
	// ip_vs_sed_schedule: wlc's comparison of the expected delay
	// (active + 1) / weight; inactive connections do not count.
	rankSED = rank{eligible: (*table.Dest).Eligible, beats: sedBeats}
	// ip_vs_nq_schedule: the first idle destination (no active
	// connections), otherwise sed's choice. The kernel's scan returns at the
	// first idle one; as an order, idle comes before any busy one and ties
	// among idle ones keep the first.
	rankNQ = rank{
		eligible: (*table.Dest).Eligible,
		beats: func(l, r *table.Dest) bool {
			li, ri := l.ActiveConns() == 0, r.ActiveConns() == 0
			if li || ri {
				return ri && !li
			}
			return sedBeats(l, r)
		},
	}
	// ip_vs_fo_schedule: the highest weight among destinations that are not
	// overloaded; load is ignored.
	rankFO = rank{
		eligible: (*table.Dest).Eligible,
		beats:    func(l, r *table.Dest) bool { return r.Weight() > l.Weight() },
		loadFree: true,
	}
	// ip_vs_ovf_schedule: the highest weight among destinations that are not
	// overloaded and whose active connections do not exceed their weight.
	rankOVF = rank{
		eligible: func(d *table.Dest) bool { return d.Eligible() && d.ActiveConns() <= d.Weight() },
		beats:    func(l, r *table.Dest) bool { return r.Weight() > l.Weight() },
	}
)

// sedBeats compares expected delays as ip_vs_sed_schedule does.
func sedBeats(l, r *table.Dest) bool {
	return (int64(l.ActiveConns())+1)*int64(r.Weight()) > (int64(r.ActiveConns())+1)*int64(l.Weight())
}

// pickWLC is ip_vs_wlc_schedule: the least overhead/weight, compared by
// cross-multiplication in 64 bits. The starting candidate is the first
// destination that is not overloaded and has weight > 0; later ones only
// skip overloaded destinations, since a weight of 0 can never make
// loh × 0 exceed doh × w. Ties keep the earlier destination.
func pickWLC(dests []*table.Dest) *table.Dest {
	i, least := firstEligible(dests)
	if least == nil {
		return nil
	}
	loh := int64(least.Overhead())
	lw := int64(least.Weight())
	for _, d := range dests[i+1:] {
		if d.Overloaded() {
			continue
		}
		doh := int64(d.Overhead())
		dw := int64(d.Weight())
		if loh*dw > doh*lw {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}

// firstEligible returns the first destination that is not overloaded and
// has weight > 0, the starting candidate of wlc, sed, lblc and lblcr.
func firstEligible(dests []*table.Dest) (int, *table.Dest) {
	for i, d := range dests {
		if d.Eligible() {
			return i, d
		}
	}
	return -1, nil
}

// pickLC is ip_vs_lc_schedule: the least overhead (256 × active +
// inactive) among destinations that are not overloaded and whose weight is
// not 0; the first one wins a tie, since only a strictly smaller overhead
// replaces the candidate.
func pickLC(dests []*table.Dest) *table.Dest {
	var least *table.Dest
	loh := 0
	for _, d := range dests {
		if d.Overloaded() || d.Weight() == 0 {
			continue
		}
		doh := d.Overhead()
		if least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}

// pickSED is ip_vs_sed_schedule: wlc's scan with the expected delay
// (active + 1) / weight; inactive connections do not count.
func pickSED(dests []*table.Dest) *table.Dest {
	i, least := firstEligible(dests)
	if least == nil {
		return nil
	}
	loh := int64(least.ActiveConns()) + 1
	lw := int64(least.Weight())
	for _, d := range dests[i+1:] {
		if d.Overloaded() {
			continue
		}
		doh := int64(d.ActiveConns()) + 1
		dw := int64(d.Weight())
		if loh*dw > doh*lw {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}

// pickNQ is ip_vs_nq_schedule: the first idle destination (no active
// connections) in list order if there is one, otherwise sed's choice. The
// scan stops at the first idle one, so an idle destination late in the list
// still beats a better-weighted busy one before it.
func pickNQ(dests []*table.Dest) *table.Dest {
	var least *table.Dest
	var loh, lw int64
	for _, d := range dests {
		if d.Overloaded() || d.Weight() == 0 {
			continue
		}
		active := int64(d.ActiveConns())
		doh := active + 1
		dw := int64(d.Weight())
		// Return the server directly if it is idle.
		if active == 0 {
			return d
		}
		if least == nil || loh*dw > doh*lw {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}

// pickFO is ip_vs_fo_schedule, weighted fail-over: the destination with the
// highest weight that is not overloaded; the first one wins a tie. Load is
// ignored.
func pickFO(dests []*table.Dest) *table.Dest {
	var best *table.Dest
	hw := 0
	for _, d := range dests {
		if w := d.Weight(); !d.Overloaded() && w > hw {
			best, hw = d, w
		}
	}
	return best
}

// pickOVF is ip_vs_ovf_schedule, overflow: the highest weight among
// destinations that are not overloaded and whose active connections do not
// exceed their weight; the first one wins a tie.
func pickOVF(dests []*table.Dest) *table.Dest {
	var best *table.Dest
	hw := 0
	for _, d := range dests {
		w := d.Weight()
		if d.Overloaded() || d.ActiveConns() > w || w == 0 {
			continue
		}
		if best == nil || w > hw {
			best, hw = d, w
		}
	}
	return best
}
