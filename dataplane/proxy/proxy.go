package proxy

import (
	"context"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
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
