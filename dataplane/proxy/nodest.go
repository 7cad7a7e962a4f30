package proxy

import (
	"time"

	"github.com/govs/govs/table"
)

// A connection whose real server leaves its service (down, disabled, or
// removed with expire_nodest_conn) behaves as the kernel's does when its
// dest is no longer available (ip_vs_in_hook): by default the client's
// traffic is no longer passed on, so the connection stalls while the
// server's replies still flow, and it resumes if the server comes back
// before the connection times out; with expire_nodest_conn the connection
// is expired at once, both sides reset (the kernel flushes such
// connections when the dest goes, and answers the client's next segment
// with a reset), and a UDP flow's next datagram is scheduled afresh.
//
// The table says when availability may have changed (Table.Watch); the
// plane then sweeps its connections. The event loops also look before
// each read from a client, so they stall at once; the goroutine path
// (other systems, Options.Goroutines) applies a change at the sweep, a
// moment later, and a chunk its pump was already reading passes.

// watchTable sweeps the plane's connections whenever the table changes,
// until the plane closes.
func (p *Plane) watchTable() {
	defer p.wg.Done()
	ch, stop := p.t.Watch()
	defer stop()
	for {
		select {
		case <-ch:
			p.sweepNodest()
		case <-p.dialCtx.Done():
			return
		}
	}
}

// sweepNodest applies each connection's availability: the event loops
// stall, resume or reset theirs, the goroutine path's stalled pumps wake
// to look, and UDP flows of servers that left end with expire_nodest_conn.
func (p *Plane) sweepNodest() {
	expire := p.t.ExpireNodestConn()
	for _, lp := range p.loops {
		lp.post(func() { lp.sweepNodest(expire) })
	}
	p.availMu.Lock()
	close(p.availCh)
	p.availCh = make(chan struct{})
	p.availMu.Unlock()
	p.reg.each(func(c *tcpConn) {
		tc := c.live.Load()
		if tc == nil || tc.Dest().Available() {
			return
		}
		if expire {
			c.abort()
			c.closeSockets()
			return
		}
		// A pump inside a read would pass the next bytes on: wake it to
		// look before it reads again.
		c.poke(c.client)
	})
	if expire {
		p.expireNodestFlows()
	}
	p.sweeps.Add(1)
}

// expireNodestFlows ends the UDP flows whose real server left.
func (p *Plane) expireNodestFlows() {
	p.mu.Lock()
	var ls []*listener
	for _, l := range p.listeners {
		if l.udp != nil {
			ls = append(ls, l)
		}
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.mu.Lock()
		var gone []*udpFlow
		for _, f := range l.flows {
			if f.tc != nil && !f.tc.Dest().Available() {
				gone = append(gone, f)
			}
		}
		l.mu.Unlock()
		for _, f := range gone {
			f.end()
		}
	}
}

// availChanged returns a channel closed at the next table change.
func (p *Plane) availChanged() <-chan struct{} {
	p.availMu.Lock()
	defer p.availMu.Unlock()
	return p.availCh
}

// holdIn waits, on the goroutine path, before the client's next bytes of
// tc are read, while its real server is not available: until it is again
// (true), or the connection is to end (false): expire_nodest_conn, its
// idle timeout, or the plane closing.
func (c *tcpConn) holdIn(tc *table.Conn) bool {
	p := c.p
	for !tc.Dest().Available() {
		if p.t.ExpireNodestConn() {
			c.abort()
			return false
		}
		if c.idle() || c.done.Load() != 0 {
			return false
		}
		wait := time.Until(p.clk.at(c.last.Load() + int64(tc.Timeout())))
		t := time.NewTimer(max(wait, clockRes))
		select {
		case <-p.availChanged():
		case <-t.C:
		case <-p.dialCtx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
	return true
}
