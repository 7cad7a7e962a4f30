package scheduler

import (
	"sync/atomic"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// lblcScheduler is ip_vs_lblc.c, locality-based least-connection: each
// destination address (a cache cluster's origin, say) sticks to one real
// server, chosen by wlc, until that server is gone, quiesced, or busy
// beyond its weight while another server sits below half of its own.
type lblcScheduler struct {
	cache lcTable
	cur   atomic.Pointer[lcSnap]
}

func newLBLC(clk clock.Clock, expiration time.Duration) *lblcScheduler {
	s := &lblcScheduler{}
	s.cache.init(clk, expiration)
	s.cur.Store(newLCSnap(nil))
	return s
}

// Name returns "lblc".
func (s *lblcScheduler) Name() model.Scheduler { return model.SchedLBLC }

// Update publishes the new destination list. Like the kernel module, it
// leaves the cache alone: entries for a removed destination are ignored on
// lookup and rescheduled.
func (s *lblcScheduler) Update(dests []*table.Dest) { s.cur.Store(newLCSnap(dests)) }

// Schedule is ip_vs_lblc_schedule.
func (s *lblcScheduler) Schedule(p *table.Packet) *table.Dest {
	if p == nil {
		return nil
	}
	now := s.cache.now()
	s.cache.maybeGC(now)
	sn := s.cur.Load()
	addr := p.Dst.Addr().Unmap()

	// First look in our cache.
	if en := s.cache.get(addr); en != nil {
		en.touch(now)
		// Use the cached server if it is still in the service, not
		// quiesced and not lblc-overloaded. Note the OVERLOAD flag of the
		// connection thresholds is not consulted here, as in the kernel.
		if d := en.dest.Load(); sn.available(d, &en.hint) && d.Weight() > 0 && !sn.lcOverloaded(d) {
			return d
		}
	}

	// No cache entry or it is invalid, time to schedule.
	d := pickWLC(sn.dests)
	if d == nil {
		return nil
	}
	s.cache.mu.Lock()
	// ip_vs_lblc_new: update the entry if another pick created it since
	// the lookup, otherwise hash a new one.
	if en := s.cache.get(addr); en != nil {
		en.dest.Store(d)
	} else {
		en := &lcEntry{addr: addr}
		en.lastuse.Store(now)
		en.dest.Store(d)
		s.cache.insert(en)
	}
	s.cache.mu.Unlock()
	return d
}

// Len returns the number of cache entries, for monitoring and tests.
func (s *lblcScheduler) Len() int { return s.cache.Len() }
