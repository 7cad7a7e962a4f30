package table

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/persistence"
)

// ConnState is a connection entry's state, named as ipvsadm -c shows it.
type ConnState uint32

// Connection states. A data plane that proxies sees fewer transitions than
// the kernel: SynRecv until the real server answers, Established while both
// directions flow, FinWait once either side has closed, Close at the end.
// UDP flows are always UDP.
const (
	ConnNone ConnState = iota
	ConnSynRecv
	ConnSynSent
	ConnEstablished
	ConnFinWait
	ConnCloseWait
	ConnLastAck
	ConnTimeWait
	ConnClose
	ConnUDP
)

var connStateNames = [...]string{"NONE", "SYN_RECV", "SYN_SENT", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "UDP"}

// String returns the ipvsadm name.
func (s ConnState) String() string {
	if int(s) < len(connStateNames) {
		return connStateNames[s]
	}
	return "UNKNOWN"
}

// Conn is an entry of the connection table: one proxied connection or UDP
// flow, bound to its real server.
type Conn struct {
	t    *Table
	svc  *Service
	dest *Dest
	tmpl *persistence.Template[*Dest]
	id   uint64

	// Proto, Client, Virtual and Target are the connection's protocol, the
	// client's address, the address it reached, and where it is forwarded.
	Proto   model.Proto
	Client  netip.AddrPort
	Virtual netip.AddrPort
	Target  netip.AddrPort

	state    atomic.Uint32
	seen     atomic.Int64 // last activity, Unix ns
	closed   atomic.Bool
	inBytes  atomic.Uint64
	outBytes atomic.Uint64
}

func (t *Table) newConn(s *Service, d *Dest, tp *persistence.Template[*Dest], p *Packet) *Conn {
	c := &Conn{t: t, svc: s, dest: d, tmpl: tp, Proto: p.Proto, Client: p.Src, Virtual: p.Dst,
		Target: s.target(d, p, tp != nil)}
	st := ConnSynRecv
	if p.Proto == model.ProtoUDP {
		st = ConnUDP
	}
	c.state.Store(uint32(st))
	c.seen.Store(t.clock.Now().UnixNano())
	d.bindConn()
	d.Counters.Conns.Add(1)
	s.Counters.Conns.Add(1)
	t.conns.add(c)
	t.open.Add(1)
	return c
}

// Service returns the connection's service.
func (c *Conn) Service() *Service { return c.svc }

// Dest returns the connection's real server.
func (c *Conn) Dest() *Dest { return c.dest }

// Persistent reports whether a persistence template controls the connection.
func (c *Conn) Persistent() bool { return c.tmpl != nil }

// State returns the connection's state.
func (c *Conn) State() ConnState { return ConnState(c.state.Load()) }

// SetState moves the connection to st, moving it between the real server's
// active and inactive counts as the kernel does on a TCP state change
// (active means ESTABLISHED).
func (c *Conn) SetState(st ConnState) {
	if c.closed.Load() {
		return
	}
	prev := ConnState(c.state.Swap(uint32(st)))
	if prev == st {
		return
	}
	d := c.dest
	if st == ConnEstablished && c.tmpl != nil {
		c.tmpl.Assure()
	}
	switch {
	case st == ConnEstablished:
		d.inact.Add(-1)
		d.active.Add(1)
	case prev == ConnEstablished:
		d.active.Add(-1)
		d.inact.Add(1)
	default:
		c.Touch()
		return
	}
	d.loadChanged()
	c.Touch()
}

// Touch records activity now.
func (c *Conn) Touch() { c.seen.Store(c.t.clock.Now().UnixNano()) }

// TouchAt records activity at t, for data planes that keep a coarse clock
// of their own and would rather not read the table's on every packet.
func (c *Conn) TouchAt(t time.Time) { c.seen.Store(t.UnixNano()) }

// AddIn accounts traffic from the client towards the real server.
func (c *Conn) AddIn(pkts, bytes uint64) {
	c.inBytes.Add(bytes)
	c.svc.AddIn(c.dest, pkts, bytes)
}

// AddOut accounts traffic from the real server back to the client.
func (c *Conn) AddOut(pkts, bytes uint64) {
	c.outBytes.Add(bytes)
	c.svc.AddOut(c.dest, pkts, bytes)
}

// AddIn accounts traffic from a client to real server d that has no
// connection entry (one-packet scheduling).
func (s *Service) AddIn(d *Dest, pkts, bytes uint64) {
	for _, ct := range [2]*Counters{&d.Counters, &s.Counters} {
		ct.InPkts.Add(pkts)
		ct.InBytes.Add(bytes)
	}
}

// AddOut accounts traffic from real server d to a client that has no
// connection entry.
func (s *Service) AddOut(d *Dest, pkts, bytes uint64) {
	for _, ct := range [2]*Counters{&d.Counters, &s.Counters} {
		ct.OutPkts.Add(pkts)
		ct.OutBytes.Add(bytes)
	}
}

// Bytes returns the bytes carried in and out.
func (c *Conn) Bytes() (in, out uint64) { return c.inBytes.Load(), c.outBytes.Load() }

// The kernel's timeouts of the states a closed TCP connection lingers in
// (tcp_timeouts in ip_vs_proto_tcp.c); ipvsadm --set does not change them.
const (
	TimeWaitTimeout = 2 * time.Minute
	CloseTimeout    = 10 * time.Second
)

// Timeout returns the idle timeout of the connection's current state: the
// tcp_timeout, tcpfin_timeout or udp_timeout of lvs.cf, or the kernel's
// fixed TIME_WAIT and CLOSE timeouts.
func (c *Conn) Timeout() time.Duration {
	tcp, fin, udp := c.t.Timeouts()
	switch c.State() {
	case ConnUDP:
		return udp
	case ConnEstablished:
		return tcp
	case ConnTimeWait:
		return TimeWaitTimeout
	case ConnClose:
		return CloseTimeout
	case ConnFinWait, ConnCloseWait, ConnLastAck:
		return fin
	}
	// Before establishment the kernel's SYN_RECV timeout is 60 s; a proxy
	// bounds the connect separately, so use the closing timeout.
	return fin
}

// Expires returns when the connection times out if idle from now on.
func (c *Conn) Expires() time.Time { return time.Unix(0, c.seen.Load()).Add(c.Timeout()) }

// Closed reports whether the data plane has closed the connection: its
// entry may linger (see Close).
func (c *Conn) Closed() bool { return c.closed.Load() }

// Close ends the connection as the data plane saw it end. A TCP entry then
// stays in the table as the kernel keeps it, in TIME_WAIT after a
// connection that was established and in CLOSE after one that never was,
// counted among its real server's inactive connections until that state's
// timeout: that is the inactive count lc, wlc and ovf weigh, and what
// balances short connections. Only when the entry expires (Tick) does it
// leave the table and its real server's counts. The persistence template
// is released at once and expires its timeout later if no other connection
// holds it: the kernel's template outlives the lingering entries it
// controls by re-arming its timer, and for a short connection it expires
// the timeout after the connection, as here. A UDP flow ends at once: the
// data plane closes it only after its udp timeout of silence, which is
// when the kernel's entry expires too. Close is idempotent.
func (c *Conn) Close() { c.end(false) }

// Reset ends the connection as a reset ends it: its entry lingers in
// CLOSE, the kernel's state after a RST, whatever state it was in.
func (c *Conn) Reset() { c.end(true) }

func (c *Conn) end(reset bool) {
	if c.closed.Swap(true) {
		return
	}
	c.t.open.Add(-1)
	c.svc.open.Add(-1)
	if c.tmpl != nil {
		c.tmpl.Release(c.t.clock.Now())
	}
	if c.Proto != model.ProtoTCP {
		c.expire()
		return
	}
	st := ConnTimeWait
	prev := ConnState(c.state.Load())
	if reset || prev == ConnSynRecv || prev == ConnSynSent || prev == ConnNone {
		st = ConnClose
	}
	c.state.Store(uint32(st))
	if prev == ConnEstablished {
		c.dest.active.Add(-1)
		c.dest.inact.Add(1)
		c.dest.loadChanged()
	}
	now := c.t.clock.Now()
	c.seen.Store(now.UnixNano())
	// The full entry goes; a compact record of it lingers.
	c.t.conns.remove(c)
	c.t.linger.push(c.Timeout(), lingerRec{dest: c.dest, at: now.Add(c.Timeout()).UnixNano(),
		client: pack(c.Client), virtual: pack(c.Virtual), target: pack(c.Target),
		proto: c.Proto, state: uint8(st)})
}

// expire removes the entry: it leaves the connection table and its real
// server's counts.
func (c *Conn) expire() {
	d := c.dest
	if c.State() == ConnEstablished {
		d.active.Add(-1)
	} else {
		d.inact.Add(-1)
	}
	d.updateOverload(false)
	d.loadChanged()
	c.t.conns.remove(c)
	if d.removed.Load() && d.active.Load()+d.inact.Load() == 0 && d.svc != nil {
		d.svc.dropGone(d)
	}
}

const connShards = 64

type connShard struct {
	mu sync.Mutex
	m  map[uint64]*Conn
}

// connTable holds open connections for listing, sharded by id so that
// opening and closing connections from many goroutines rarely contend.
type connTable struct {
	next   atomic.Uint64
	n      atomic.Int64
	shards [connShards]connShard
}

func (ct *connTable) init() {
	for i := range ct.shards {
		ct.shards[i].m = map[uint64]*Conn{}
	}
}

func (ct *connTable) add(c *Conn) {
	c.id = ct.next.Add(1)
	sh := &ct.shards[c.id%connShards]
	sh.mu.Lock()
	sh.m[c.id] = c
	sh.mu.Unlock()
	ct.n.Add(1)
}

func (ct *connTable) remove(c *Conn) {
	sh := &ct.shards[c.id%connShards]
	sh.mu.Lock()
	delete(sh.m, c.id)
	sh.mu.Unlock()
	ct.n.Add(-1)
}

func (ct *connTable) rangeAll(fn func(*Conn) bool) {
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.Lock()
		list := make([]*Conn, 0, len(sh.m))
		for _, c := range sh.m {
			list = append(list, c)
		}
		sh.mu.Unlock()
		for _, c := range list {
			if !fn(c) {
				return
			}
		}
	}
}
