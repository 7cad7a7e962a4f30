package health

import (
	"fmt"
	"net/netip"
	"time"
)

// agent polls one load agent. Guarded by Manager.mu.
type agent struct {
	spec  agentSpec
	binds map[bindKey]*binding

	state     agentState
	pct       int // -1: no percentage received
	desc      string
	lastPoll  time.Time
	lastOK    bool
	lastErr   string
	lastReply string
	errLogged bool

	timer    *time.Timer
	inflight bool
	stopped  bool
}

func (a *agent) target() string { return netip.AddrPortFrom(a.spec.addr, a.spec.port).String() }

func (a *agent) describe() string {
	s := "agent: " + a.state.String()
	if a.pct >= 0 {
		s += fmt.Sprintf(" %d%%", a.pct)
	}
	if a.desc != "" {
		s += " (" + a.desc + ")"
	}
	return s
}

// startAgent polls a's agent now. Called with m.mu held while running.
func (m *Manager) startAgent(a *agent) {
	a.timer = time.AfterFunc(0, func() { m.runAgent(a) })
}

func (m *Manager) runAgent(a *agent) {
	m.mu.Lock()
	if a.stopped || !m.running || a.inflight {
		m.mu.Unlock()
		return
	}
	iv := a.spec.interval
	ctx := m.ctx
	a.inflight = true
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()

	start := time.Now()
	reply, err := pollAgent(ctx, m.env, a.spec, start.Add(iv))

	m.mu.Lock()
	defer m.mu.Unlock()
	a.inflight = false
	if a.stopped || !m.running || ctx.Err() != nil {
		return
	}
	a.lastPoll = m.clock.Now()
	if err != nil {
		// An unreachable agent changes nothing (as in HAProxy): the health
		// check decides availability, the agent only refines it.
		a.lastOK, a.lastErr = false, err.Error()
		if !a.errLogged {
			a.errLogged = true
			m.log.Warn(a.target()+" agent unreachable: "+err.Error(), "agent", a.target())
		}
	} else {
		a.lastOK, a.errLogged = true, false
		a.lastReply = reply.raw
		changed := false
		if reply.state != agentNone && reply.state != a.state {
			a.state, changed = reply.state, true
		}
		if reply.pct >= 0 && reply.pct != a.pct {
			a.pct, changed = reply.pct, true
		}
		a.desc = reply.desc
		if changed {
			m.log.Info(a.target()+" "+a.describe(), "agent", a.target(), "services", len(a.binds))
			for _, b := range a.binds {
				m.push(b, a.describe())
			}
		}
	}
	next := iv - time.Since(start) + time.Duration((m.rand()-0.5)*float64(iv)/10)
	a.timer.Reset(max(0, next))
}
