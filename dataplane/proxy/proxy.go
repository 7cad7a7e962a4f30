package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Defaults of Options.
const (
	DefaultDialTimeout      = 5 * time.Second
	DefaultChunkSize        = 256 << 10
	DefaultStatsInterval    = time.Second
	DefaultOnePacketTimeout = 10 * time.Second
)

// Options configure a Plane. Zero values take the defaults.
type Options struct {
	// Logger receives listener changes and connection failures; discarded
	// if nil.
	Logger *slog.Logger
	// DialTimeout bounds the connect to a real server; the client's
	// connection is closed when it expires.
	DialTimeout time.Duration
	// ChunkSize is the most bytes copied before the table's counters are
	// updated.
	ChunkSize int
	// StatsInterval is how late the counters may be for traffic slower
	// than a chunk. Shorter means more wake-ups per busy connection.
	StatsInterval time.Duration
	// OnePacketTimeout is how long the socket that carries replies of a
	// one-packet-scheduled UDP service to a client stays open after the
	// client's last datagram to that real server (at most udp_timeout).
	OnePacketTimeout time.Duration
	// NoSplice copies TCP through userspace buffers even where splice(2)
	// is available, for comparison and for kernels where it misbehaves.
	NoSplice bool
	// Goroutines serves TCP with a pair of goroutines per connection, as
	// on systems other than Linux, instead of Linux event loops.
	Goroutines bool
	// Sockets bounds the sockets traffic may hold (two per TCP connection,
	// one per UDP flow); 0 derives it from the descriptor limit, keeping a
	// reserve for the rest of the router (see budget.go).
	Sockets int
}

// Plane is the userspace proxy data plane. It implements dataplane.Plane.
type Plane struct {
	t      *table.Table
	log    *slog.Logger
	opt    Options
	splice bool
	clk    *coarseClock
	dialer net.Dialer
	lc     net.ListenConfig
	bufs   sync.Pool // *[]byte, for the non-splice copy path
	loops  []*evloop // Linux event loops serving TCP; none on the goroutine path
	dgrams sync.Pool // *[]byte of maxDatagram, for UDP replies

	// dialCtx ends dials in progress when Close stops waiting.
	dialCtx    context.Context
	cancelDial context.CancelFunc

	mu        sync.Mutex
	listeners map[lkey]*listener
	pending   *txn
	closed    bool

	reg    registry
	budget *budget
	// udpDropped counts the datagrams the kernel dropped at the full
	// receive buffers of UDP listeners since closed (see Sockets).
	udpDropped atomic.Uint64
	open       atomic.Int64 // TCP connections and UDP flows alive
	closing    atomic.Bool
	forced     atomic.Bool
	drained    chan struct{}
	drainMu    sync.Once
	wg         sync.WaitGroup

	// availCh is closed, and replaced, at each table change, for pumps
	// that wait for their real server to become available again.
	availMu sync.Mutex
	availCh chan struct{}
	sweeps  atomic.Int64 // sweeps done, for tests to wait on

	warnAt     atomic.Int64 // coarse time of the last rate-limited warning
	suppressed atomic.Int64
}

var (
	_ dataplane.Plane        = (*Plane)(nil)
	_ dataplane.SocketBudget = (*Plane)(nil)
)

// New returns a proxy plane serving the services of t. It listens on
// nothing until a configuration is prepared and committed; Close releases
// it.
func New(t *table.Table, o Options) *Plane {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.StatsInterval <= 0 {
		o.StatsInterval = DefaultStatsInterval
	}
	if o.OnePacketTimeout <= 0 {
		o.OnePacketTimeout = DefaultOnePacketTimeout
	}
	p := &Plane{
		t:         t,
		log:       o.Logger,
		opt:       o,
		splice:    runtime.GOOS == "linux" && !o.NoSplice,
		clk:       newCoarseClock(),
		listeners: map[lkey]*listener{},
		drained:   make(chan struct{}),
		budget:    newBudget(o.Sockets),
		availCh:   make(chan struct{}),
	}
	// Keepalives off: IPVS sends none, the idle timeouts end dead
	// connections, and each costs setsockopt calls per connection.
	p.dialer = net.Dialer{Timeout: o.DialTimeout, KeepAlive: -1}
	p.lc = net.ListenConfig{Control: listenControl, KeepAlive: -1}
	size := min(o.ChunkSize, maxCopyBuf)
	p.bufs.New = func() any { b := make([]byte, size); return &b }
	p.dgrams.New = func() any { b := make([]byte, maxDatagram); return &b }
	p.dialCtx, p.cancelDial = context.WithCancel(context.Background())
	p.warnAt.Store(-int64(time.Second))
	if !o.Goroutines {
		loops, err := newLoops(p)
		if err != nil {
			p.log.Warn("event loops unavailable: serving TCP with goroutines", "error", err)
		}
		p.loops = loops
	}
	p.wg.Add(1)
	go p.watchTable()
	return p
}

// Name returns "proxy".
func (p *Plane) Name() string { return Capabilities.Name }

// Capabilities is what the proxy plane can do: it connects to real
// servers itself, so it can bound and count connections and send the
// PROXY protocol, and it mixes address families freely; it cannot
// forward packets unchanged (direct routing, tunnelling).
var Capabilities = model.Capabilities{
	Name:          "proxy",
	Title:         "userspace proxy",
	Label:         "the proxy data plane",
	Forwarding:    []model.Forward{model.ForwardNAT},
	MixedFamilies: []model.Forward{model.ForwardNAT},
	ProxyProtocol: true, MaxConns: true, ServiceMaxConns: true,
	Why: map[string]string{"network": "set dataplane = ipvs"},
}

// Capabilities returns the package's Capabilities.
func (p *Plane) Capabilities() model.Capabilities { return Capabilities }

// Registration offers the proxy plane: it runs on any host.
func Registration() dataplane.Registration {
	return dataplane.Registration{Caps: Capabilities,
		New: func(t *table.Table, log *slog.Logger) (dataplane.Plane, error) {
			return New(t, Options{Logger: log}), nil
		}}
}

// lkey identifies a listener.
type lkey struct {
	proto model.Proto
	addr  netip.AddrPort
}

func (k lkey) String() string { return strings.ToLower(k.proto.String()) + " " + k.addr.String() }

// listener is a listening socket on one protocol, address and port, bound
// to the service that owns that port now.
type listener struct {
	p   *Plane
	id  lkey
	svc atomic.Pointer[model.ServiceKey]
	// next is the service a prepared, uncommitted configuration gives the
	// port; accepts use it if the table already dropped svc.
	next atomic.Pointer[model.ServiceKey]

	tcp *net.TCPListener // on the goroutine path
	// fd is the listening socket the event loops accept from, or -1.
	// watched tells that the loops were given it.
	fd      int
	watched bool
	vip     *net.TCPAddr // the local address, for PROXY protocol headers
	udp     *net.UDPConn
	urc     syscall.RawConn // of udp, for the event loops' replies
	pkt     table.Packet    // scratch of the UDP receive goroutine
	rr      uint32          // scratch of the UDP receive goroutine: the loop of the last flow

	// UDP flows, guarded by mu.
	mu       sync.Mutex
	flows    map[netip.AddrPort]*udpFlow
	ops      map[opsKey]*udpFlow
	draining bool // takes no new flows; closes when the last one ends
	closed   bool
}

// service returns the live service the listener feeds, or nil.
func (l *listener) service() *table.Service {
	t := l.p.t
	s := t.Service(*l.svc.Load())
	if s == nil || s.Removed() {
		if k := l.next.Load(); k != nil {
			if n := t.Service(*k); n != nil {
				return n
			}
		}
	}
	return s
}

func (l *listener) close() {
	if l.id.proto == model.ProtoTCP {
		if l.tcp != nil {
			l.tcp.Close()
			return
		}
		if l.fd < 0 {
			return
		}
		if l.watched {
			// The loops must let go first: closed, the descriptor's number
			// could be reused under them.
			for _, lp := range l.p.loops {
				lp.call(func() { lp.unwatch(l) })
			}
		}
		closeRaw(l.fd)
		l.fd = -1
		return
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.closeUDP()
}

// closeUDP closes a UDP listener's socket, keeping what the kernel dropped
// at it in the plane's total.
func (l *listener) closeUDP() {
	l.p.udpDropped.Add(receiveDrops(l.udp))
	l.udp.Close()
}

// wanted computes the listeners cfg needs and the service each one feeds.
// When ports overlap, a mark service wins over an address service (in IPVS
// a marked packet finds the mark service first), and a lower mark over a
// higher one. The passive range of an FTP mark service is claimed so, but
// not listened on.
func (p *Plane) wanted(cfg *model.Config) map[lkey]model.ServiceKey {
	want := map[lkey]model.ServiceKey{}
	type pair struct{ serving, ignored model.ServiceKey }
	conflicts := map[pair]int{}
	onDemand := map[lkey]model.ServiceKey{}
	better := func(a, b model.ServiceKey) bool {
		if a.IsMark() != b.IsMark() {
			return a.IsMark()
		}
		return table.CompareKeys(a, b) < 0
	}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if !s.Active {
			continue
		}
		key := s.Key()
		if !s.VIP.IsValid() {
			p.log.Warn("virtual service has no address: not listening", "service", key.String(), "name", s.Name)
			continue
		}
		var protos []model.Proto
		switch {
		case s.Proto == model.ProtoTCP || s.Proto == model.ProtoUDP:
			protos = []model.Proto{s.Proto}
		case s.FWMark != 0 && s.Proto == model.ProtoIP:
			protos = []model.Proto{model.ProtoTCP, model.ProtoUDP}
		default:
			p.log.Warn("virtual service protocol not proxied", "service", key.String(), "name", s.Name, "proto", s.Proto.String())
			continue
		}
		p.unsupported(cfg, s)
		vip := s.VIP.Unmap()
		for _, r := range s.ListenPorts() {
			for port := int(r.First); port <= int(r.Last); port++ {
				if port == 0 {
					p.log.Warn("port-0 virtual service cannot be proxied", "service", key.String(), "name", s.Name)
					continue
				}
				for _, pr := range protos {
					id := lkey{pr, netip.AddrPortFrom(vip, uint16(port))}
					if o, ok := want[id]; ok && o != key {
						if !better(key, o) {
							conflicts[pair{o, key}]++
							continue
						}
						conflicts[pair{key, o}]++
					}
					want[id] = key
					if ftpPassivePort(s, uint16(port)) {
						onDemand[id] = key
					}
				}
			}
		}
	}
	for c, n := range conflicts {
		p.log.Warn("ports claimed by two virtual services", "serving", c.serving.String(), "ignored", c.ignored.String(), "ports", n)
	}
	// An FTP passive range is listened on when a reply announces a port of
	// it (ftp.go). It still wins its ports from other services above, as
	// the mark does in IPVS, so that none listens there instead.
	for id, k := range onDemand {
		if want[id] == k {
			delete(want, id)
		}
	}
	return want
}

// unsupported warns about settings of s that a proxy cannot honour, so
// that a configuration written for IPVS does not silently behave otherwise.
func (p *Plane) unsupported(cfg *model.Config, s *model.Service) {
	for _, r := range s.RealServers {
		f := r.Forward
		if f == model.ForwardDefault {
			f = cfg.Global.Network
		}
		if r.Active && (f == model.ForwardDR || f == model.ForwardTUN) {
			p.log.Warn("real server forwarding method not available in the proxy plane: it is proxied, and sees the router's address",
				"service", s.Key().String(), "server", r.Key().String(), "network", f.String())
			break
		}
	}
}

// txn is a prepared configuration change.
type txn struct {
	p     *Plane
	want  map[lkey]model.ServiceKey
	fresh map[lkey]*listener // bound by Prepare, not yet serving; Prepare's own until it returns
	// ready (Prepare returned it) and done (committed or dropped) are
	// guarded by p.mu.
	ready, done bool
	maxConns    int // lvs.cf's global max_conns, applied at Commit
}

// Prepare binds the listeners cfg adds, beside the running ones. If any
// cannot be bound, the ones it bound are closed and the error names the
// address. Only one configuration can be prepared at a time.
func (p *Plane) Prepare(ctx context.Context, cfg *model.Config) (dataplane.Txn, error) {
	want := p.wanted(cfg)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("plane closed")
	}
	if p.pending != nil {
		p.mu.Unlock()
		return nil, errors.New("another configuration is prepared and not committed")
	}
	var need []lkey
	for id := range want {
		if _, ok := p.listeners[id]; !ok {
			need = append(need, id)
		}
	}
	tx := &txn{p: p, want: want, fresh: make(map[lkey]*listener, len(need)), maxConns: cfg.Global.MaxConns}
	p.pending = tx // reserves draining UDP listeners this configuration reuses
	p.mu.Unlock()

	slices.SortFunc(need, func(a, b lkey) int {
		return cmp.Or(cmp.Compare(a.proto, b.proto), a.addr.Compare(b.addr))
	})
	for _, id := range need {
		l, err := p.listen(ctx, id)
		if err != nil {
			for _, f := range tx.fresh {
				f.close()
			}
			p.mu.Lock()
			if p.pending == tx {
				p.pending = nil
			}
			tx.done = true
			p.mu.Unlock()
			p.retireIdle()
			return nil, err
		}
		tx.fresh[id] = l
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.pending != tx {
		for _, f := range tx.fresh {
			f.close()
		}
		tx.done = true
		return nil, errors.New("plane closed")
	}
	for id, k := range want {
		if l, ok := p.listeners[id]; ok && *l.svc.Load() != k {
			l.next.Store(&k)
		}
	}
	tx.ready = true
	return tx, nil
}

// listen binds one listener.
func (p *Plane) listen(ctx context.Context, id lkey) (*listener, error) {
	l := &listener{p: p, id: id, fd: -1}
	addr := id.addr.String()
	fam := "4"
	if id.addr.Addr().Is6() {
		fam = "6"
	}
	switch id.proto {
	case model.ProtoTCP:
		l.vip = net.TCPAddrFromAddrPort(id.addr)
		if len(p.loops) > 0 {
			fd, err := listenRaw(id)
			if err != nil {
				return nil, err
			}
			l.fd = fd
			break
		}
		ln, err := p.lc.Listen(ctx, "tcp"+fam, addr)
		if err != nil {
			return nil, fmt.Errorf("listen on tcp %s: %w", addr, err)
		}
		l.tcp = ln.(*net.TCPListener)
	case model.ProtoUDP:
		pc, err := p.lc.ListenPacket(ctx, "udp"+fam, addr)
		if err != nil {
			return nil, fmt.Errorf("listen on udp %s: %w", addr, err)
		}
		l.udp = pc.(*net.UDPConn)
		if len(p.loops) > 0 {
			rc, err := l.udp.SyscallConn()
			if err != nil {
				l.udp.Close()
				return nil, fmt.Errorf("listen on udp %s: %w", addr, err)
			}
			l.urc = rc
		}
		l.flows = map[netip.AddrPort]*udpFlow{}
		l.ops = map[opsKey]*udpFlow{}
	default:
		return nil, fmt.Errorf("listen on %s: unsupported protocol", id)
	}
	return l, nil
}

// Commit starts the prepared listeners, points every kept listener at its
// service and stops the listeners the configuration no longer has. Open
// connections are left alone.
func (tx *txn) Commit() error {
	p := tx.p
	p.budget.maxFlows.Store(int64(tx.maxConns))
	p.mu.Lock()
	if tx.done || p.pending != tx {
		p.mu.Unlock()
		for _, l := range tx.fresh {
			l.close()
		}
		if p.closed {
			return errors.New("commit: plane closed")
		}
		return errors.New("commit: configuration no longer prepared")
	}
	tx.done = true
	p.pending = nil
	var added, removed int
	for id, k := range tx.want {
		if l, ok := tx.fresh[id]; ok {
			l.svc.Store(&k)
			p.listeners[id] = l
			p.start(l)
			added++
			p.log.Debug("listening", "listener", id.String(), "service", k.String())
			continue
		}
		l := p.listeners[id]
		if l == nil {
			// Prepare reserved it; only a bug can lose it.
			p.log.Error("prepared listener lost", "listener", id.String())
			continue
		}
		if *l.svc.Load() != k {
			p.log.Debug("listener moved", "listener", id.String(), "from", l.svc.Load().String(), "to", k.String())
			l.svc.Store(&k)
		}
		l.next.Store(nil)
		if l.udp != nil {
			l.mu.Lock()
			l.draining = false
			l.mu.Unlock()
		}
	}
	for id, l := range p.listeners {
		if _, ok := tx.want[id]; ok {
			continue
		}
		removed++
		p.log.Debug("listener stopped", "listener", id.String(), "service", l.svc.Load().String())
		p.stopLocked(l)
	}
	total := len(p.listeners)
	p.mu.Unlock()
	p.log.Info("proxy listeners", "added", added, "removed", removed, "total", total)
	return nil
}

// Abort closes what Prepare bound; the running configuration stays.
func (tx *txn) Abort() {
	p := tx.p
	p.mu.Lock()
	if tx.done {
		p.mu.Unlock()
		return
	}
	tx.done = true
	if p.pending == tx {
		p.pending = nil
	}
	for _, l := range p.listeners {
		l.next.Store(nil)
	}
	p.mu.Unlock()
	for _, l := range tx.fresh {
		l.close()
	}
	p.retireIdle()
}

// schedule asks l's service for the real server of a new connection.
func (p *Plane) schedule(l *listener, pkt *table.Packet) (*table.Service, *table.Conn, error) {
	svc := l.service()
	if svc == nil {
		return nil, nil, table.ErrServiceRemoved
	}
	tc, err := svc.Schedule(pkt)
	return svc, tc, err
}

// pick is schedule for one-packet scheduling.
func (p *Plane) pick(l *listener, pkt *table.Packet) (*table.Service, *table.Dest, netip.AddrPort, error) {
	svc := l.service()
	if svc == nil {
		return nil, nil, netip.AddrPort{}, table.ErrServiceRemoved
	}
	d, target, err := svc.Pick(pkt)
	return svc, d, target, err
}

// start launches the serving goroutine of a listener. Called with p.mu held.
func (p *Plane) start(l *listener) {
	if l.fd >= 0 {
		l.watched = true
		for _, lp := range p.loops {
			lp.post(func() { lp.watch(l) })
		}
		return
	}
	p.wg.Add(1)
	if l.tcp != nil {
		go p.serveTCP(l)
	} else {
		go p.serveUDP(l)
	}
}

// stopLocked stops a listener that no configuration wants: a TCP listener
// closes at once (its connections live on without it); a UDP socket drains.
// Called with p.mu held.
func (p *Plane) stopLocked(l *listener) {
	if l.id.proto == model.ProtoTCP {
		l.close()
		delete(p.listeners, l.id)
		return
	}
	l.mu.Lock()
	l.draining = true
	idle := len(l.flows)+len(l.ops) == 0
	if idle {
		l.closed = true
	}
	l.mu.Unlock()
	if idle {
		l.closeUDP()
		delete(p.listeners, l.id)
	}
}

// retireIdle closes draining UDP listeners whose last flow ended while a
// prepared configuration held them.
func (p *Plane) retireIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		if l.udp != nil {
			l.mu.Lock()
			d := l.draining
			l.mu.Unlock()
			if d {
				p.stopLocked(l)
			}
		}
	}
}

// retire closes a draining UDP listener once its last flow ended, unless
// a prepared configuration wants it back.
func (l *listener) retire() {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		if _, ok := p.pending.want[l.id]; ok {
			return
		}
	}
	l.mu.Lock()
	d := l.draining && !l.closed
	l.mu.Unlock()
	if d && p.listeners[l.id] == l {
		p.stopLocked(l)
	}
}

// Close stops accepting connections and new UDP flows at once, waits for
// open connections and flows to end until ctx is done, then closes the rest
// and returns once every goroutine of the plane has ended.
func (p *Plane) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if tx := p.pending; tx != nil {
		tx.done = true
		p.pending = nil
		// A Prepare still binding sees it was dropped and closes its own.
		if tx.ready {
			for _, l := range tx.fresh {
				l.close()
			}
		}
	}
	for _, l := range p.listeners {
		p.stopLocked(l)
	}
	p.mu.Unlock()

	p.closing.Store(true)
	if p.open.Load() == 0 {
		p.signalDrained()
	}
	select {
	case <-p.drained:
	case <-ctx.Done():
	}

	// Whatever is left is cut: connections, dials in progress, UDP flows
	// and the sockets that carry their replies.
	p.forced.Store(true)
	p.cancelDial()
	n := p.reg.closeAll()
	for _, lp := range p.loops {
		lp.call(func() { n += lp.cut() })
	}
	if n > 0 {
		p.log.Info("proxy closed open connections", "count", n)
	}
	p.mu.Lock()
	for id, l := range p.listeners {
		l.mu.Lock()
		l.closed = true
		var fl []*udpFlow
		for _, f := range l.flows {
			fl = append(fl, f)
		}
		for _, f := range l.ops {
			fl = append(fl, f)
		}
		l.mu.Unlock()
		for _, f := range fl {
			if f.conn != nil { // a loop's flows were cut with the loop's connections
				f.conn.Close()
			}
		}
		l.close()
		delete(p.listeners, id)
	}
	p.mu.Unlock()
	for _, lp := range p.loops {
		lp.post(func() { lp.quit = true })
	}
	p.wg.Wait()
	p.clk.close()
	return nil
}

func (p *Plane) signalDrained() { p.drainMu.Do(func() { close(p.drained) }) }

// opened and ended count connections and flows, so that Close knows when
// the last one is gone.
func (p *Plane) opened() { p.open.Add(1) }

func (p *Plane) ended() {
	if p.open.Add(-1) == 0 && p.closing.Load() {
		p.signalDrained()
	}
}

// warn logs a per-connection failure, at most once a second: a dead real
// server must not turn every refused connection into a log line.
func (p *Plane) warn(msg string, args ...any) {
	now := p.clk.now()
	last := p.warnAt.Load()
	if now-last < int64(time.Second) || !p.warnAt.CompareAndSwap(last, now) {
		p.suppressed.Add(1)
		return
	}
	if n := p.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	p.log.Warn(msg, args...)
}
