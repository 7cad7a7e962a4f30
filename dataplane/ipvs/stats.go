package ipvs

import (
	"fmt"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// mirrorStats copies the kernel's connection counts and counters into the
// table, so listings, rates and the schedulers' view read the kernel.
func (p *Plane) mirrorStats() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.committed {
		return nil
	}
	svcs, err := p.k.Services()
	if err != nil {
		return err
	}
	byKey := make(map[model.ServiceKey]KService, len(svcs))
	for _, s := range svcs {
		byKey[s.Key] = s
	}
	for _, s := range p.t.Services() {
		ks, ok := byKey[s.Key()]
		if !ok || !p.owned[s.Key()] {
			continue
		}
		storeStats(&s.Counters, ks.Stats)
		s.SetRates(ks.Rates)
		dests, err := p.k.Dests(s.Key())
		if err != nil {
			return err
		}
		kd := make(map[model.DestKey]KDest, len(dests))
		for _, d := range dests {
			kd[d.Key()] = d
		}
		for _, d := range s.Dests() {
			if x, ok := kd[d.Key()]; ok {
				d.SetCounters(x.Active, x.Inactive, x.Persist)
				storeStats(&d.Counters, x.Stats)
				d.SetRates(x.Rates)
			} else if d.State().InService() {
				// Not in the kernel (yet): nothing is connected there.
				d.SetCounters(0, 0, 0)
			}
		}
		// Removed servers draining at weight 0 in the kernel: their
		// counters stay live, and they leave the listing with the kernel's
		// last connection to them.
		for _, d := range s.Gone() {
			if x, ok := kd[d.Key()]; ok {
				d.SetCounters(x.Active, x.Inactive, x.Persist)
				storeStats(&d.Counters, x.Stats)
				d.SetRates(x.Rates)
			} else {
				d.SetCounters(0, 0, 0)
			}
		}
	}
	return nil
}

func storeStats(c *table.Counters, s table.Stats) {
	c.Conns.Store(s.Conns)
	c.InPkts.Store(s.InPkts)
	c.OutPkts.Store(s.OutPkts)
	c.InBytes.Store(s.InBytes)
	c.OutBytes.Store(s.OutBytes)
}

// Zero zeroes the kernel's counters and rates of the services govs owns
// among keys (ipvsadm -Z for each), so that the mirrored counters start
// again from zero; services govs did not create are left alone.
func (p *Plane) Zero(keys []model.ServiceKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.committed {
		return nil
	}
	var ops []Op
	for _, k := range keys {
		if p.owned[k] {
			ops = append(ops, Op{Kind: OpZero, Service: KService{Key: k}})
		}
	}
	if _, err := p.k.Apply(ops); err != nil {
		return fmt.Errorf("zero the kernel's counters: %w", err)
	}
	return nil
}
