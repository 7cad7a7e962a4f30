package table

import "github.com/govs/govs/model"

// zero clears the counters.
func (c *Counters) zero() {
	c.Conns.Store(0)
	c.InPkts.Store(0)
	c.OutPkts.Store(0)
	c.InBytes.Store(0)
	c.OutBytes.Store(0)
}

// Zero zeroes the counters and rates of service k and its real servers,
// or of every service when k is nil, as ipvsadm -Z does, and returns the
// services it zeroed. Connection counts are not counters: they stay.
func (t *Table) Zero(k *model.ServiceKey) []model.ServiceKey {
	var out []model.ServiceKey
	for _, s := range t.Services() {
		if k != nil && s.Key() != *k {
			continue
		}
		s.Counters.zero()
		s.est.reset()
		for _, d := range append(s.Dests(), s.Gone()...) {
			d.Counters.zero()
			d.est.reset()
		}
		out = append(out, s.Key())
	}
	return out
}
