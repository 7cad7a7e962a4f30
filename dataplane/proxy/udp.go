package proxy

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// opsKey identifies the reply socket of a one-packet-scheduled client: one
// per real server the client's datagrams went to.
type opsKey struct{ client, target netip.AddrPort }

// udpFlow carries one client's datagrams to one real server through a
// connected socket, and the real server's replies back from the VIP. On
// Linux with event loops the socket is a raw descriptor served by a loop
// (lp, fd, lf: see loop_udp_linux.go); otherwise it is conn, and the flow
// has a goroutine reading its replies (serve).
type udpFlow struct {
	l      *listener
	conn   *net.UDPConn
	lp     *evloop
	fd     int
	lf     loopFlow
	client netip.AddrPort
	tc     *table.Conn // nil for one-packet flows, which have no table entry
	svc    *table.Service
	dest   *table.Dest
	okey   opsKey

	last    atomic.Int64
	touched atomic.Int64
	ended   atomic.Bool
	rd      flowReader
}

// serveUDP reads datagrams sent to the VIP until the socket is closed.
// Each listener keeps one buffer of the largest datagram.
func (p *Plane) serveUDP(l *listener) {
	defer p.wg.Done()
	buf := make([]byte, maxDatagram)
	var delay time.Duration
	for {
		n, src, err := l.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.warn("udp receive failed", "listener", l.id.String(), "error", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		l.forward(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))
	}
}

// forward sends one datagram of client on, through the client's flow or a
// new one. A flow that expired under it is replaced once.
func (l *listener) forward(b []byte, client netip.AddrPort) {
	p := l.p
	now := p.clk.now()
	for range 2 {
		l.mu.Lock()
		f := l.flows[client]
		l.mu.Unlock()
		if f != nil && f.tc != nil && !f.tc.Dest().Available() {
			// The flow's real server left its service: the datagram is
			// dropped, or with expire_nodest_conn the flow expires and
			// the datagram is scheduled afresh (ip_vs_in_hook).
			if !p.t.ExpireNodestConn() {
				return
			}
			f.end()
			f = nil
		}
		if f == nil {
			svc := l.service()
			if svc == nil {
				return
			}
			if svc.Config().OnePacket {
				l.forwardOne(b, client, now)
				return
			}
			if f = l.newFlow(client, now); f == nil {
				return
			}
		}
		if f.send(b, now) {
			continue
		}
		return
	}
}

// send passes a client's datagram to the real server and accounts it; a
// datagram refused after an ICMP error, or without buffer room, is
// dropped, as the network would drop it. It returns true if the flow
// ended under it, for the caller to try a new one.
func (f *udpFlow) send(b []byte, now int64) bool {
	if f.lp == nil {
		if _, err := f.conn.Write(b); err != nil {
			return errors.Is(err, net.ErrClosed)
		}
		f.in(len(b), now)
		return false
	}
	// The loop closes the socket of a flow only once the flow has left
	// the listener's maps under l.mu, and the descriptor number may be
	// reused at once by any other socket: write only to a flow still
	// published, holding l.mu. Accounting under the lock also makes the
	// loop's idle check, taken under it, see this datagram.
	l := f.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.holdsLocked(f) {
		return true
	}
	if f.writeLoop(b) {
		f.in(len(b), now)
	}
	return false
}

// forwardOne schedules one datagram of a one-packet service on its own.
func (l *listener) forwardOne(b []byte, client netip.AddrPort, now int64) {
	p := l.p
	l.pkt = table.Packet{Proto: model.ProtoUDP, Src: client, Dst: l.id.addr}
	svc, d, target, err := p.pick(l, &l.pkt)
	if err != nil {
		p.warn("datagram dropped", "listener", l.id.String(), "client", client.String(), "error", err)
		return
	}
	k := opsKey{client, target}
	for range 2 {
		l.mu.Lock()
		f := l.ops[k]
		l.mu.Unlock()
		if f == nil {
			if !l.takeFlow(client) {
				return
			}
			if f = l.dial(target, client, now); f == nil {
				return
			}
			f.svc, f.dest, f.okey = svc, d, k
			if !l.insert(f) {
				return
			}
		}
		if f.send(b, now) {
			continue
		}
		return
	}
}

// newFlow schedules a new flow of client and starts relaying its replies.
func (l *listener) newFlow(client netip.AddrPort, now int64) *udpFlow {
	p := l.p
	l.mu.Lock()
	stop := l.draining || l.closed
	l.mu.Unlock()
	if stop || !l.takeFlow(client) {
		return nil
	}
	l.pkt = table.Packet{Proto: model.ProtoUDP, Src: client, Dst: l.id.addr}
	_, tc, err := p.schedule(l, &l.pkt)
	if err != nil {
		p.budget.giveUDP()
		p.warn("datagram dropped", "listener", l.id.String(), "client", client.String(), "error", err)
		return nil
	}
	f := l.dial(tc.Target, client, now)
	if f == nil {
		tc.Close()
		return nil
	}
	f.tc = tc
	if !l.insert(f) {
		return nil
	}
	return f
}

// takeFlow reserves a new flow's socket; a flow refused for want of one
// drops its datagram.
func (l *listener) takeFlow(client netip.AddrPort) bool {
	if l.p.budget.takeUDP() {
		return true
	}
	l.p.warn("datagram dropped: socket budget spent", "listener", l.id.String(), "client", client.String(),
		"udp_flows", l.p.budget.udp.Load())
	return false
}

// dial opens a flow's socket to the real server, in the budget its caller
// took (takeFlow), which it gives back if it fails.
func (l *listener) dial(target, client netip.AddrPort, now int64) *udpFlow {
	p := l.p
	if len(p.loops) > 0 {
		return l.dialLoop(target, client, now)
	}
	c, err := p.dialer.DialUDP(p.dialCtx, "udp", netip.AddrPort{}, target)
	if err != nil {
		p.budget.giveUDP()
		p.warn("udp socket to real server failed", "server", target.String(), "error", err)
		return nil
	}
	f := &udpFlow{l: l, conn: c, fd: -1, client: client}
	if err := f.rd.init(c, &p.dgrams); err != nil {
		f.closeConn()
		p.warn("udp socket to real server failed", "server", target.String(), "error", err)
		return nil
	}
	f.last.Store(now)
	f.touched.Store(now)
	return f
}

// insert publishes f and starts its reply relay (its loop, or a
// goroutine), unless the listener no longer takes flows; then f is
// released.
func (l *listener) insert(f *udpFlow) bool {
	p := l.p
	l.mu.Lock()
	if l.closed || l.draining {
		l.mu.Unlock()
		f.closeConn()
		if f.tc != nil {
			f.tc.Close()
		}
		return false
	}
	if f.tc != nil {
		l.flows[f.client] = f
	} else {
		l.ops[f.okey] = f
	}
	p.opened()
	if f.lp != nil {
		f.startLoop()
		l.mu.Unlock()
		return true
	}
	p.wg.Add(1)
	l.mu.Unlock()
	go f.serve()
	return true
}

// holdsLocked tells whether f is published. Called with l.mu held.
func (l *listener) holdsLocked(f *udpFlow) bool {
	if f.tc != nil {
		return l.flows[f.client] == f
	}
	return l.ops[f.okey] == f
}

// removeLocked unpublishes f. Called with l.mu held.
func (l *listener) removeLocked(f *udpFlow) {
	if f.tc != nil {
		if l.flows[f.client] == f {
			delete(l.flows, f.client)
		}
	} else if l.ops[f.okey] == f {
		delete(l.ops, f.okey)
	}
}

// timeout is the flow's idle timeout.
func (f *udpFlow) timeout() time.Duration {
	if f.tc != nil {
		return f.tc.Timeout()
	}
	_, _, udp := f.l.p.t.Timeouts()
	return min(udp, f.l.p.opt.OnePacketTimeout)
}

// in accounts a datagram from the client.
func (f *udpFlow) in(n int, now int64) {
	if f.tc != nil {
		f.tc.AddIn(1, uint64(n))
	} else {
		f.svc.AddIn(f.dest, 1, uint64(n))
	}
	f.seen(now)
}

// out accounts a reply.
func (f *udpFlow) out(n int, now int64) {
	if f.tc != nil {
		f.tc.AddOut(1, uint64(n))
	} else {
		f.svc.AddOut(f.dest, 1, uint64(n))
	}
	f.seen(now)
}

func (f *udpFlow) seen(now int64) {
	f.last.Store(now)
	if f.tc != nil {
		if t := f.touched.Load(); now-t >= int64(touchEvery) && f.touched.CompareAndSwap(t, now) {
			f.tc.TouchAt(f.l.p.clk.at(now))
		}
	}
}

// serve relays the real server's replies to the client from the VIP, and
// ends the flow once idle. The read deadline is re-armed only when it
// fires, so a busy flow costs no timer updates.
func (f *udpFlow) serve() {
	l := f.l
	p := l.p
	defer p.wg.Done()
	// The reader's buffer is this goroutine's alone: end, which other
	// goroutines call (the sweep, a drain), must not give it back.
	defer f.rd.release()
	armed := false
	for {
		if !armed {
			dl := max(f.last.Load()+int64(f.timeout()), p.clk.precise()+int64(clockRes))
			f.conn.SetReadDeadline(p.clk.at(dl))
			armed = true
		}
		b, err := f.rd.read()
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				armed = false
				if f.expireIfIdle() {
					return
				}
				continue
			case errors.Is(err, syscall.ECONNREFUSED):
				// The real server's port answered unreachable to an
				// earlier datagram; the flow stays, as in IPVS.
				continue
			}
			f.end()
			return
		}
		_, werr := l.udp.WriteToUDPAddrPort(b, f.client)
		f.rd.release()
		if werr == nil {
			f.out(len(b), p.clk.now())
		} else if errors.Is(werr, net.ErrClosed) {
			f.end()
			return
		}
	}
}

// expireIfIdle ends the flow if it has been idle for its timeout.
func (f *udpFlow) expireIfIdle() bool {
	l := f.l
	l.mu.Lock()
	if l.p.clk.now()-f.last.Load() < int64(f.timeout()) {
		l.mu.Unlock()
		return false
	}
	l.removeLocked(f)
	l.mu.Unlock()
	f.end()
	return true
}

// end releases the flow; a draining listener closes after its last flow.
// A loop's flow is unpublished at once and released by its loop, which
// alone may close its socket.
func (f *udpFlow) end() {
	if f.lp != nil {
		f.endLoop()
		return
	}
	if f.ended.Swap(true) {
		return
	}
	l := f.l
	l.mu.Lock()
	l.removeLocked(f)
	draining := l.draining && len(l.flows)+len(l.ops) == 0
	l.mu.Unlock()
	f.closeConn()
	if f.tc != nil {
		f.tc.Close()
	}
	l.p.ended()
	if draining {
		l.retire()
	}
}

// closeConn closes the socket of a flow not started, or not served by a
// loop, and gives it back to the budget.
func (f *udpFlow) closeConn() {
	if f.lp != nil {
		f.closeRawFlow()
	} else {
		f.conn.Close()
	}
	f.l.p.budget.giveUDP()
}
