package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

const (
	// mss is the segment size packet counts are estimated with: an
	// Ethernet MTU less IP and TCP headers with timestamps.
	mss = 1448
	// touchEvery bounds how often a connection's table entry is touched;
	// the entry only shows when the connection would expire.
	touchEvery = time.Second
	// idleProbe bounds how long a quiet pump sleeps, so that a trickle
	// that starts after a silence is accounted within this time.
	idleProbe = 30 * time.Second
	// maxCopyBuf is the buffer size of the non-splice path.
	maxCopyBuf = 64 << 10
)

// serveTCP accepts connections until the listener is closed.
func (p *Plane) serveTCP(l *listener) {
	defer p.wg.Done()
	var delay time.Duration
	for {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or memory: pause rather than spin; the
			// backlog holds clients meanwhile.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.warn("accept failed", "listener", l.id.String(), "error", err, "retry", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		p.wg.Add(1)
		go p.handleTCP(l, c)
	}
}

// tcpConn is one proxied TCP connection.
type tcpConn struct {
	p      *Plane
	client *net.TCPConn
	server atomic.Pointer[net.TCPConn]
	tc     *table.Conn
	live   atomic.Pointer[table.Conn] // tc, once set, for sweeps from other goroutines

	last    atomic.Int64  // coarse time of the last byte either way
	touched atomic.Int64  // coarse time of the last table Touch
	gen     atomic.Uint32 // bumped by a poke, so a re-arm cannot hide it
	suspect atomic.Int32  // the direction (1 in, 2 out) that found the connection idle
	done    atomic.Int32  // directions finished
	reset   atomic.Bool   // a side reset: both close with a reset

	inLR, outLR io.LimitedReader // kept here so each pump allocates none
	pkt         table.Packet

	shard      *regShard
	prev, next *tcpConn
}

// handleTCP schedules, connects and proxies one accepted connection.
func (p *Plane) handleTCP(l *listener, cc *net.TCPConn) {
	defer p.wg.Done()
	c := &tcpConn{p: p, client: cc}
	if !p.budget.takeTCP() {
		p.warn("connection refused: socket budget spent", "listener", l.id.String(),
			"client", cc.RemoteAddr().String(), "tcp_sockets", p.budget.tcp.Load())
		cc.SetLinger(0)
		cc.Close()
		return
	}
	if !p.reg.add(p, c) {
		p.budget.giveTCP()
		cc.Close()
		return
	}
	ra, _ := cc.RemoteAddr().(*net.TCPAddr)
	if ra == nil {
		c.refuse()
		return
	}
	src := ra.AddrPort()
	// The packet lives in c, which is allocated anyway: schedulers take a
	// pointer through an interface, which would move a local to the heap.
	c.pkt = table.Packet{Proto: model.ProtoTCP, Src: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), Dst: l.id.addr}
	svc, tc, err := p.schedule(l, &c.pkt)
	if err != nil {
		p.warn("connection refused", "listener", l.id.String(), "client", c.pkt.Src.String(), "error", err)
		c.refuse()
		return
	}
	c.tc = tc
	c.live.Store(tc)
	sc, err := p.dialTCP(tc.Target)
	if err != nil {
		p.warn("connect to real server failed", "service", svc.String(), "server", tc.Target.String(),
			"client", c.pkt.Src.String(), "error", err)
		c.refuse()
		return
	}
	c.server.Store(sc)
	if p.forced.Load() {
		// Close is cutting connections and may have missed this socket.
		c.end()
		return
	}
	if v := tc.Dest().Config().ProxyProtocol; v == 1 || v == 2 {
		if _, err := proxyproto.HeaderProxyFromAddrs(byte(v), ra, l.vip).WriteTo(sc); err != nil {
			p.warn("PROXY protocol header not sent", "server", tc.Target.String(), "error", err)
			c.end()
			return
		}
	}
	tc.SetState(table.ConnEstablished)
	now := p.clk.now()
	c.last.Store(now)
	c.touched.Store(now)
	if ftpControl(svc.Config(), l.id.addr.Port()) {
		// FTP control connection: copied through the FTP helper (ftp.go).
		p.serveFTP(c, l)
		return
	}
	p.wg.Add(1)
	go c.pumpIn()
	c.pump(cc, sc, &c.outLR, false)
}

// dialTCP connects to a real server. Dialer.DialTCP would bind the zero
// local address before connecting; a bind to port 0 cannot share a port
// with TIME_WAIT connections to other destinations and scans the port
// range, which costs milliseconds per connection once thousands linger.
// A string address leaves the choice to connect.
func (p *Plane) dialTCP(target netip.AddrPort) (*net.TCPConn, error) {
	c, err := p.dialer.DialContext(p.dialCtx, "tcp", target.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// refuse resets the client: no real server took the connection (IPVS
// answers with an ICMP unreachable; a reset is the closest a proxy has).
func (c *tcpConn) refuse() {
	c.client.SetLinger(0)
	c.client.Close()
	if c.tc != nil {
		c.tc.Close()
	}
	c.p.reg.remove(c.p, c)
}

func (c *tcpConn) pumpIn() {
	defer c.p.wg.Done()
	c.pump(c.server.Load(), c.client, &c.inLR, true)
}

// pump copies src to dst until EOF, an error or the idle timeout. Read
// deadlines wake it to account bytes of an unfinished chunk and to check
// idleness; they are re-armed only when they must move, not per chunk.
//
// Bytes inside an unfinished splice are invisible to the other direction,
// so a pump that finds the connection idle does not end it alone: it
// suspects, and pokes the other pump, which reports what it moved or, having
// moved nothing, confirms and ends the connection.
func (c *tcpConn) pump(dst, src *net.TCPConn, lr *io.LimitedReader, in bool) {
	p := c.p
	clk := p.clk
	me, other := int32(1), int32(2)
	if !in {
		me, other = 2, 1
	}
	lr.R = src
	stats := int64(p.opt.StatsInterval)
	armed := int64(-1) // the read deadline set on src; -1: re-arm
	own := clk.now()   // this direction's last traffic
	for {
		now := clk.now()
		g := c.gen.Load()
		// Re-arm after a wake, or when this direction turned busy while
		// armed for a long sleep; not per chunk.
		if armed < 0 || armed <= now || (now-own < stats && armed > now+stats+int64(clockRes)) {
			// The coarse clock may lag when the process is starved; a
			// deadline set from it could be past already.
			dl := c.deadline(clk.precise(), own, me)
			src.SetReadDeadline(clk.at(dl))
			armed = dl
		}
		var (
			n   int64
			eof bool
			err error
		)
		if in && !c.tc.Dest().Available() && !c.holdIn(c.tc) {
			// The real server left: expired, or idle while it was away.
			c.finish(dst, false)
			return
		}
		if c.gen.Load() != g {
			// A poke may have been overwritten by the re-arm: act on it.
			err = os.ErrDeadlineExceeded
		} else {
			n, eof, err = p.copyChunk(dst, src, lr)
		}
		if n > 0 {
			own = clk.now()
			c.account(in, n, own)
		}
		switch {
		case err == nil && !eof:
			continue
		case err == nil:
			c.finish(dst, true)
			return
		case !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed):
			// A socket error is the peer resetting (or worse): the other
			// side gets a reset too, as the kernel would forward the RST.
			c.abort()
		case errors.Is(err, os.ErrDeadlineExceeded):
			armed = -1
			if n > 0 {
				continue
			}
			if !c.idle() {
				c.suspect.CompareAndSwap(me, 0)
				continue
			}
			if c.done.Load() == 0 && c.suspect.Load() != other {
				c.suspect.Store(me)
				c.poke(dst)
				continue
			}
			p.log.Debug("connection idle timeout", "client", c.tc.Client.String(), "server", c.tc.Target.String(),
				"state", c.tc.State().String())
		}
		c.finish(dst, false)
		return
	}
}

// deadline returns when the pump should next wake: soon while its
// direction moves bytes (to account an unfinished chunk), else when the
// connection would become idle, and never later than idleProbe. A pump
// whose suspicion is pending waits a timeout for the other's answer.
func (c *tcpConn) deadline(now, own int64, me int32) int64 {
	to := int64(c.tc.Timeout())
	if c.suspect.Load() == me {
		return now + max(to, int64(clockRes))
	}
	wake := now + int64(idleProbe)
	if st := int64(c.p.opt.StatsInterval); now-own < st {
		wake = now + st
	}
	return max(min(wake, c.last.Load()+to), now+int64(clockRes))
}

// poke wakes the pump reading s so that it accounts its unfinished chunk
// and re-evaluates its deadline.
func (c *tcpConn) poke(s *net.TCPConn) {
	c.gen.Add(1)
	s.SetReadDeadline(aLongTimeAgo)
}

// idle compares coarse readings only: a lagging clock then delays an
// expiry but never causes one.
func (c *tcpConn) idle() bool {
	return c.p.clk.now()-c.last.Load() >= int64(c.tc.Timeout())
}

// copyChunk moves at most one chunk from src to dst. eof reports that src
// ended cleanly.
func (p *Plane) copyChunk(dst, src *net.TCPConn, lr *io.LimitedReader) (n int64, eof bool, err error) {
	if p.splice {
		// ReadFrom splices when given a *net.TCPConn under an
		// *io.LimitedReader; it returns a nil error at EOF, which a
		// chunk not filled up tells apart from a full one.
		lr.N = int64(p.opt.ChunkSize)
		n, err = dst.ReadFrom(lr)
		return n, err == nil && lr.N > 0, err
	}
	bp := p.bufs.Get().(*[]byte)
	r, rerr := src.Read(*bp)
	if r > 0 {
		if _, werr := dst.Write((*bp)[:r]); werr != nil {
			p.bufs.Put(bp)
			return 0, false, werr
		}
	}
	p.bufs.Put(bp)
	if rerr == io.EOF {
		return int64(r), true, nil
	}
	return int64(r), false, rerr
}

// account reports n bytes to the table. Packets are estimated: a proxy
// sees a byte stream, not segments.
func (c *tcpConn) account(in bool, n, now int64) {
	pk := uint64((n + mss - 1) / mss)
	if in {
		c.tc.AddIn(pk, uint64(n))
	} else {
		c.tc.AddOut(pk, uint64(n))
	}
	c.last.Store(now)
	if c.suspect.Load() != 0 {
		c.suspect.Store(0)
	}
	if t := c.touched.Load(); now-t >= int64(touchEvery) && c.touched.CompareAndSwap(t, now) {
		c.tc.TouchAt(c.p.clk.at(now))
	}
}

// finish ends one direction. After a clean EOF the peer is half-closed and
// the connection moves to FIN_WAIT; after an error or idle timeout both
// sockets close. The second direction to finish releases the connection.
func (c *tcpConn) finish(dst *net.TCPConn, eof bool) {
	if eof {
		dst.CloseWrite()
	} else {
		c.closeSockets()
	}
	if c.done.Add(1) == 2 {
		c.end()
		return
	}
	if eof {
		// A FIN is traffic: tcpfin_timeout runs from it, as in IPVS.
		c.last.Store(c.p.clk.now())
		c.tc.SetState(table.ConnFinWait)
		// The other pump reads dst; wake it so it re-arms its deadline
		// under tcpfin_timeout.
		c.poke(dst)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// abort makes both sockets close with a reset.
func (c *tcpConn) abort() {
	if c.reset.Swap(true) {
		return
	}
	c.client.SetLinger(0)
	if s := c.server.Load(); s != nil {
		s.SetLinger(0)
	}
}

func (c *tcpConn) closeSockets() {
	c.client.Close()
	if s := c.server.Load(); s != nil {
		s.Close()
	}
}

// end releases the connection: sockets, table entry, registration.
func (c *tcpConn) end() {
	c.closeSockets()
	if c.reset.Load() {
		c.tc.Reset()
	} else {
		c.tc.Close()
	}
	c.p.reg.remove(c.p, c)
}
