//go:build linux

package proxy

// expire fires due timers: a connect that took too long, or a connection
// idle for its state's timeout. Traffic does not move a timer; a timer that
// fires early is moved to the real expiry instead.
func (lp *evloop) expire() {
	now := lp.p.clk.precise()
	for l, at := range lp.paused {
		if at <= now {
			delete(lp.paused, l)
			lp.watch(l)
		}
	}
	for len(lp.timers) > 0 && lp.timers[0].due <= now {
		c := lp.timers[0]
		if c.connecting {
			lp.p.warn("connect to real server failed", "service", c.tc.Service().String(), "server", c.tc.Target.String(),
				"client", c.pkt.Src.String(), "error", "timeout")
			c.close(true)
			continue
		}
		if exp := c.last + int64(c.tc.Timeout()); exp > now {
			lp.schedule(c, min(exp, now+int64(idleProbe)))
			continue
		}
		lp.p.log.Debug("connection idle timeout", "client", c.tc.Client.String(), "server", c.tc.Target.String(),
			"state", c.tc.State().String())
		c.close(false)
	}
	lp.expireFlows(now)
}

// Timers: a binary min-heap of connections by due time.

func (lp *evloop) schedule(c *lconn, due int64) {
	c.due = due
	if c.hidx < 0 {
		c.hidx = len(lp.timers)
		lp.timers = append(lp.timers, c)
	}
	lp.up(c.hidx)
	lp.down(c.hidx)
}

func (lp *evloop) unschedule(c *lconn) {
	i, last := c.hidx, len(lp.timers)-1
	lp.swap(i, last)
	lp.timers[last] = nil
	lp.timers = lp.timers[:last]
	c.hidx = -1
	if i < last {
		lp.up(i)
		lp.down(i)
	}
}

func (lp *evloop) swap(i, j int) {
	h := lp.timers
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (lp *evloop) up(i int) {
	h := lp.timers
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].due <= h[i].due {
			return
		}
		lp.swap(i, parent)
		i = parent
	}
}

func (lp *evloop) down(i int) {
	h := lp.timers
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].due < h[l].due {
			m = r
		}
		if h[i].due <= h[m].due {
			return
		}
		lp.swap(i, m)
		i = m
	}
}
