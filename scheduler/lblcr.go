package scheduler

import (
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// lblcrScheduler is ip_vs_lblcr.c, locality-based least-connection with
// replication: each destination address maps to a set of real servers. A
// connection goes to the set's least loaded member; when that one is
// lblc-overloaded (or none is usable) wlc picks a server from the whole
// service and it joins the set. A set that has not changed for the
// expiration loses its most loaded member, one per expiration period.
type lblcrScheduler struct{ lcScheduler }

func newLBLCR(clk clock.Clock, expiration time.Duration) *lblcrScheduler {
	s := &lblcrScheduler{}
	s.init(clk, expiration)
	return s
}

// Name returns "lblcr".
func (s *lblcrScheduler) Name() model.Scheduler { return model.SchedLBLCR }

// setMin is ip_vs_dest_set_min: the weighted least-connection member. The
// starting candidate is the first member that is not overloaded, has weight
// > 0 and is available; a later one replaces it if it is not overloaded,
// is available and has a strictly lower overhead/weight.
func (sn *lcSnap) setMin(set *destSet) *table.Dest {
	i := 0
	var least *table.Dest
	for ; i < len(set.dests); i++ {
		d := set.dests[i]
		if d.Overloaded() {
			continue
		}
		if d.Weight() > 0 && sn.available(d, &set.hints[i]) {
			least = d
			break
		}
	}
	if least == nil {
		return nil
	}
	loh := int64(least.Overhead())
	lw := int64(least.Weight())
	for i++; i < len(set.dests); i++ {
		d := set.dests[i]
		if d.Overloaded() {
			continue
		}
		doh := int64(d.Overhead())
		dw := int64(d.Weight())
		if loh*dw > doh*lw && sn.available(d, &set.hints[i]) {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}

// setMax is ip_vs_dest_set_max: the weighted most-connection member among
// those with weight > 0, availability and overload not considered; ties
// keep the earlier member.
func setMax(set []*table.Dest) *table.Dest {
	i := 0
	var most *table.Dest
	for ; i < len(set); i++ {
		if set[i].Weight() > 0 {
			most = set[i]
			break
		}
	}
	if most == nil {
		return nil
	}
	moh := int64(most.Overhead())
	mw := int64(most.Weight())
	for _, d := range set[i+1:] {
		doh := int64(d.Overhead())
		dw := int64(d.Weight())
		// moh/mw < doh/dw ==> moh*dw < doh*mw, where mw,dw>0
		if moh*dw < doh*mw && dw > 0 {
			most, moh, mw = d, doh, dw
		}
	}
	return most
}

// setInsert is ip_vs_dest_set_insert with check: add d at the front of the
// entry's set unless it is already a member, and mark the set modified.
// Called with the cache lock held.
func setInsert(en *lcEntry, d *table.Dest, now int64) {
	old := en.set.Load().dests
	for _, m := range old {
		if m == d {
			return
		}
	}
	set := make([]*table.Dest, 0, len(old)+1)
	set = append(set, d)
	set = append(set, old...)
	en.set.Store(newDestSet(set))
	en.lastmod.Store(now)
}

// setErase is ip_vs_dest_set_erase. Called with the cache lock held.
func setErase(en *lcEntry, d *table.Dest, now int64) {
	old := en.set.Load().dests
	for i, m := range old {
		if m == d {
			set := make([]*table.Dest, 0, len(old)-1)
			set = append(set, old[:i]...)
			set = append(set, old[i+1:]...)
			en.set.Store(newDestSet(set))
			en.lastmod.Store(now)
			return
		}
	}
}

// Schedule is ip_vs_lblcr_schedule.
func (s *lblcrScheduler) Schedule(p *table.Packet) *table.Dest {
	if p == nil {
		return nil
	}
	now, sn, addr, en := s.lookup(p)
	if en != nil {
		// Get the least loaded destination.
		set := en.set.Load()
		d := sn.setMin(set)
		// More than one destination and unchanged for long enough:
		// drop the most loaded one. The pick above stands even if it
		// is the one dropped.
		if len(set.dests) > 1 && now > en.lastmod.Load()+s.cache.expiration {
			s.cache.mu.Lock()
			if cur := en.set.Load().dests; len(cur) > 1 {
				if m := setMax(cur); m != nil {
					setErase(en, m, now)
				}
			}
			s.cache.mu.Unlock()
		}
		// If the destination is not overloaded, use it.
		if d != nil && !sn.lcOverloaded(d) {
			return d
		}
		// The cache entry is invalid, time to schedule.
		d = pickWLC(sn.dests)
		if d == nil {
			return nil
		}
		// Update our cache entry.
		s.cache.mu.Lock()
		setInsert(en, d, now)
		s.cache.mu.Unlock()
		return d
	}

	// No cache entry, time to schedule. ip_vs_lblcr_new: d joins the set
	// of an entry another pick created since the lookup, or is the only
	// member of a new one.
	return s.scheduleNew(sn, addr, now, func(en *lcEntry, d *table.Dest) {
		if en.set.Load() == nil {
			en.set.Store(newDestSet([]*table.Dest{d}))
			en.lastmod.Store(now)
			return
		}
		setInsert(en, d, now)
	})
}
