package scheduler

import (
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// lblcScheduler is ip_vs_lblc.c, locality-based least-connection: each
// destination address (a cache cluster's origin, say) sticks to one real
// server, chosen by wlc, until that server is gone, quiesced, or busy
// beyond its weight while another server sits below half of its own.
type lblcScheduler struct{ lcScheduler }

func newLBLC(clk clock.Clock, expiration time.Duration) *lblcScheduler {
	s := &lblcScheduler{}
	s.init(clk, expiration)
	return s
}

// Name returns "lblc".
func (s *lblcScheduler) Name() model.Scheduler { return model.SchedLBLC }

// Schedule is ip_vs_lblc_schedule.
func (s *lblcScheduler) Schedule(p *table.Packet) *table.Dest {
	if p == nil {
		return nil
	}
	now, sn, addr, en := s.lookup(p)
	if en != nil {
		// Use the cached server if it is still in the service, not
		// quiesced and not lblc-overloaded. Note the OVERLOAD flag of the
		// connection thresholds is not consulted here, as in the kernel.
		if d := en.dest.Load(); sn.available(d, &en.hint) && d.Weight() > 0 && !sn.lcOverloaded(d) {
			return d
		}
	}

	// No cache entry or it is invalid, time to schedule. ip_vs_lblc_new
	// points the entry at the pick, whether it is the one found invalid,
	// one another pick created since the lookup, or a new one.
	return s.scheduleNew(sn, addr, now, func(en *lcEntry, d *table.Dest) { en.dest.Store(d) })
}
