package scheduler

import (
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// listScheduler holds the schedulers that keep no state of their own and
// only scan the destination list: lc, wlc, sed, nq, fo and ovf. Like their
// kernel modules they have no add/del/upd_dest hooks; Update only publishes
// the new list.
type listScheduler struct {
	name model.Scheduler
	pick func([]*table.Dest) *table.Dest
	cur  atomic.Pointer[[]*table.Dest]
}

func newList(name model.Scheduler, pick func([]*table.Dest) *table.Dest) *listScheduler {
	s := &listScheduler{name: name, pick: pick}
	s.cur.Store(new([]*table.Dest))
	return s
}

// Name returns the scheduler's ipvsadm name.
func (s *listScheduler) Name() model.Scheduler { return s.name }

// Update publishes the new destination list.
func (s *listScheduler) Update(dests []*table.Dest) { s.cur.Store(&dests) }

// Schedule scans the current list.
func (s *listScheduler) Schedule(*table.Packet) *table.Dest { return s.pick(*s.cur.Load()) }

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
