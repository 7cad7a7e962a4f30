package health

import (
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// pushAll pushes every binding selected by sel, reading each service's
// destinations once.
func (m *Manager) pushAll(sel func(bindKey) bool, why string) int {
	bySvc := map[model.ServiceKey][]*binding{}
	for k, b := range m.binds {
		if sel(k) {
			bySvc[b.key.svc] = append(bySvc[b.key.svc], b)
		}
	}
	n := 0
	for sk, list := range bySvc {
		svc := m.t.Service(sk)
		if svc == nil {
			continue
		}
		dests := map[model.DestKey]*table.Dest{}
		for _, d := range svc.Dests() {
			dests[d.Key()] = d
		}
		for _, b := range list {
			if d := dests[b.key.dest]; d != nil {
				m.pushTo(svc, d, b, why)
				n++
			}
		}
	}
	return n
}

// push applies b's desired state and weight to the table.
func (m *Manager) push(b *binding, why string) {
	svc := m.t.Service(b.key.svc)
	if svc == nil {
		return
	}
	if d := svc.Dest(b.key.dest); d != nil {
		m.pushTo(svc, d, b, why)
	}
}

// pushTo changes the table only where it differs from what b should be,
// so a check that confirms the current state costs no table work. The
// weight is set before a server comes up so that it never takes
// connections at its full weight during slow start.
func (m *Manager) pushTo(svc *table.Service, d *table.Dest, b *binding, why string) {
	st, w, reason := m.desired(b, why)
	k := b.key.dest
	if st == table.StateUp {
		if d.State() != table.StateUp {
			svc.SetWeight(k, w)
			svc.SetState(k, table.StateUp, reason)
		} else if d.Weight() != w {
			svc.SetWeight(k, w)
		}
		return
	}
	if d.State() != st {
		svc.SetState(k, st, reason)
	}
}

// desired combines override, health and agent into b's table state, weight
// and the reason to record. Precedence: operator override, then a failed
// health check, then the agent's state; the weight is the configured
// weight scaled by the agent's percentage and capped by slow start. why
// names the event that brings a server up, when there is one.
func (m *Manager) desired(b *binding, why string) (table.State, int, string) {
	if ov := m.overrideFor(b.key); ov != nil {
		switch ov.action {
		case Disable:
			return table.StateDisabled, 0, "disabled by operator"
		case Drain:
			return table.StateDraining, 0, "drained by operator"
		case Enable:
			return table.StateUp, b.spec.weight, "enabled by operator"
		}
	}
	failed := table.StateDown
	if b.spec.quiesce {
		failed = table.StateQuiesced
	}
	if !b.healthUp {
		return failed, 0, b.healthReason
	}
	if a := b.agent; a != nil {
		switch a.state {
		case agentDown, agentMaint:
			st := table.StateDown
			if a.state == agentDown {
				st = failed
			}
			return st, 0, a.describe()
		case agentDrain:
			return table.StateDraining, 0, a.describe()
		}
	}
	w := b.targetWeight()
	if b.ramp > 0 && b.ramp < w {
		w = b.ramp
	}
	if why == "" {
		why = b.healthReason
	}
	if why == "" {
		why = "healthy"
	}
	return table.StateUp, w, why
}

// targetWeight is the configured weight scaled by the agent's percentage.
func (b *binding) targetWeight() int {
	w := b.spec.weight
	if a := b.agent; a != nil && a.pct >= 0 {
		scaled := (int64(w)*int64(a.pct) + 50) / 100
		if scaled == 0 && w > 0 && a.pct > 0 {
			scaled = 1
		}
		w = int(min(scaled, 65535))
	}
	return w
}
