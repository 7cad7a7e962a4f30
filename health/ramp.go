package health

import "time"

// startRamp begins nanny's slow start for b: from max(1, weight/32),
// doubling each step until the target weight. The step is slowstart
// divided by the number of doublings, or about 20 s (nanny's adjustWeight
// period) when slowstart is unset; slowstart = 0 turns it off.
func (m *Manager) startRamp(b *binding) {
	m.stopRamp(b)
	target := b.targetWeight()
	if b.spec.slowstart == 0 || target <= 1 || !m.running {
		return
	}
	w0 := max(1, target>>5)
	n := 0
	for w := w0; w < target; w <<= 1 {
		n++
	}
	step := DefaultRampStep
	if b.mon != nil && b.mon.spec().interval > step {
		step = b.mon.spec().interval
	}
	if b.spec.slowstart > 0 {
		step = b.spec.slowstart / time.Duration(n)
	}
	b.ramp, b.rampStep = w0, step
	gen := b.rampGen
	b.rampT = time.AfterFunc(step, func() { m.rampTick(b, gen) })
}

func (m *Manager) stopRamp(b *binding) {
	b.rampGen++
	b.ramp = 0
	if b.rampT != nil {
		b.rampT.Stop()
		b.rampT = nil
	}
}

func (m *Manager) rampTick(b *binding, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != b.rampGen || b.removed || !m.running {
		return
	}
	b.ramp *= 2
	if b.ramp >= b.targetWeight() {
		b.ramp, b.rampT = 0, nil
	} else {
		b.rampT.Reset(b.rampStep)
	}
	m.push(b, "")
}
