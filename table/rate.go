package table

import "sync"

// Rates are per-second rates, as ipvsadm --rate shows them.
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"inpps"`
	OutPPS uint64 `json:"outpps"`
	InBPS  uint64 `json:"inbps"`
	OutBPS uint64 `json:"outbps"`
}

// estimator reproduces the kernel's rate estimator (net/netfilter/ipvs/
// ip_vs_est.c): every 2 seconds the counters' growth is folded into an
// exponentially weighted average with weight 1/4, kept in fixed point
// (connection and packet rates scaled by 2^10, byte rates by 2^5), so that
// govs list --rate reads like ipvsadm --rate for the same traffic.
type estimator struct {
	mu                                sync.Mutex
	last                              Stats
	primed                            bool
	cps, inpps, outpps, inbps, outbps int64
	// given are rates a plane read from its own estimator (the kernel's),
	// which take the place of this one's.
	given    Rates
	hasGiven bool
}

// set takes rates from the plane's own estimator.
func (e *estimator) set(r Rates) {
	e.mu.Lock()
	e.given, e.hasGiven = r, true
	e.mu.Unlock()
}

// tick folds one 2-second sample of cur into the averages.
func (e *estimator) tick(cur Stats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.primed {
		e.last, e.primed = cur, true
		return
	}
	// Per 2 s interval: (delta << 10) / 2 = delta << 9 gives per-second
	// rates scaled by 2^10; (delta << 5) / 2 = delta << 4 for bytes.
	fold := func(avg *int64, delta uint64, shift uint) {
		rate := int64(delta << shift)
		*avg += (rate - *avg) >> 2
	}
	fold(&e.cps, cur.Conns-e.last.Conns, 9)
	fold(&e.inpps, cur.InPkts-e.last.InPkts, 9)
	fold(&e.outpps, cur.OutPkts-e.last.OutPkts, 9)
	fold(&e.inbps, cur.InBytes-e.last.InBytes, 4)
	fold(&e.outbps, cur.OutBytes-e.last.OutBytes, 4)
	e.last = cur
}

// rates reads the averages, rounded as ip_vs_read_estimator does.
func (e *estimator) rates() Rates {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hasGiven {
		return e.given
	}
	return Rates{
		CPS:    uint64((e.cps + 0x1FF) >> 10),
		InPPS:  uint64((e.inpps + 0x1FF) >> 10),
		OutPPS: uint64((e.outpps + 0x1FF) >> 10),
		InBPS:  uint64((e.inbps + 0xF) >> 5),
		OutBPS: uint64((e.outbps + 0xF) >> 5),
	}
}

// reset starts the estimator again from zero counters, as
// ip_vs_zero_estimator does.
func (e *estimator) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.last, e.primed = Stats{}, true
	e.cps, e.inpps, e.outpps, e.inbps, e.outbps = 0, 0, 0, 0, 0
	e.given = Rates{}
}
