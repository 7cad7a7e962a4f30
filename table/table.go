package table

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/persistence"
)

// ErrNoDest is returned when a service has no eligible real server for a
// new connection (the kernel answers such a packet with ICMP unreachable).
var ErrNoDest = errors.New("no real server available")

// ErrServiceRemoved is returned when scheduling on a service that a reload
// removed.
var ErrServiceRemoved = errors.New("virtual service removed")

// ErrServiceFull is returned when a new connection would exceed the
// service's max_conns.
var ErrServiceFull = errors.New("virtual service at its max_conns")

// Options configure a Table.
type Options struct {
	// Clock tells the time; the system clock if nil.
	Clock clock.Clock
	// NewScheduler builds schedulers by name (package scheduler's New).
	NewScheduler NewSchedulerFunc
	// Logger receives state changes; discarded if nil.
	Logger *slog.Logger
}

// Table is the virtual server table.
type Table struct {
	clock    clock.Clock
	newSched NewSchedulerFunc
	log      *slog.Logger

	mu       sync.Mutex // serializes writers (Apply, state changes)
	services atomic.Pointer[map[model.ServiceKey]*Service]
	timeouts atomic.Pointer[timeouts]
	fwd      atomic.Uint32 // router-wide forwarding method (lvs.cf network)
	// expireQuiescent is lvs.cf's expire_quiescent_template.
	expireQuiescent atomic.Bool
	// expireNodest is lvs.cf's expire_nodest_conn.
	expireNodest atomic.Bool

	templates *persistence.Store[*Dest]
	conns     connTable
	// open counts connections the data plane has not closed, those in
	// conns but for UDP flows and the like closing; the closed TCP ones
	// that linger (TIME_WAIT, CLOSE) are records in linger.
	open   atomic.Int64
	linger lingerQueue

	watchMu  sync.Mutex
	watchers map[chan struct{}]struct{}
}

// ExpireNodestConn reports lvs.cf's expire_nodest_conn: a connection whose
// real server is no longer available is expired, and its client told by a
// reset, instead of stalling until the server comes back or the
// connection times out (the kernel's default). Data planes that carry
// connections themselves apply it; see Dest.Available.
func (t *Table) ExpireNodestConn() bool { return t.expireNodest.Load() }

// Watch returns a channel that receives a value whenever the table changes
// what should be installed: a service added, updated or removed, a real
// server's state or weight changed. Signals are coalesced (the channel holds
// at most one), so a watcher re-reads the whole table on each. Data planes
// that install the table elsewhere (the kernel plane) follow it this way.
// stop ends the watch.
func (t *Table) Watch() (c <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	t.watchMu.Lock()
	if t.watchers == nil {
		t.watchers = map[chan struct{}]struct{}{}
	}
	t.watchers[ch] = struct{}{}
	t.watchMu.Unlock()
	return ch, func() {
		t.watchMu.Lock()
		delete(t.watchers, ch)
		t.watchMu.Unlock()
	}
}

func (t *Table) notify() {
	t.watchMu.Lock()
	defer t.watchMu.Unlock()
	for ch := range t.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

type timeouts struct{ tcp, tcpfin, udp time.Duration }

// New returns an empty table.
func New(o Options) *Table {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Table{clock: o.Clock, newSched: o.NewScheduler, log: o.Logger,
		templates: persistence.New[*Dest]()}
	m := map[model.ServiceKey]*Service{}
	t.services.Store(&m)
	t.timeouts.Store(&timeouts{model.DefaultTCPTimeout, model.DefaultTCPFinTimeout, model.DefaultUDPTimeout})
	t.conns.init()
	return t
}

// Clock returns the table's clock.
func (t *Table) Clock() clock.Clock { return t.clock }

// Timeouts returns the idle timeouts of established TCP, closing TCP and
// UDP connections.
func (t *Table) Timeouts() (tcp, tcpfin, udp time.Duration) {
	to := t.timeouts.Load()
	return to.tcp, to.tcpfin, to.udp
}

// Service returns the live service with key k, or nil.
func (t *Table) Service(k model.ServiceKey) *Service {
	return (*t.services.Load())[k]
}

// Services returns the live services, sorted as ipvsadm lists them (by
// protocol, address, port; marks last by mark).
func (t *Table) Services() []*Service {
	m := *t.services.Load()
	out := make([]*Service, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Service) int { return CompareKeys(a.key, b.key) })
	return out
}

// CompareKeys orders service keys: address services by protocol, address
// and port, then mark services by family and mark.
func CompareKeys(a, b model.ServiceKey) int {
	if a.IsMark() != b.IsMark() {
		if a.IsMark() {
			return 1
		}
		return -1
	}
	if a.IsMark() {
		return cmp.Or(cmp.Compare(a.AddrFamily(), b.AddrFamily()), cmp.Compare(a.FWMark, b.FWMark))
	}
	return cmp.Or(cmp.Compare(a.Proto, b.Proto), a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
}

// Changes lists what an Apply did, for data planes reconciling themselves.
type Changes struct {
	Added, Updated, Removed, Unchanged []model.ServiceKey
}

// Apply makes the table match cfg: services and real servers that did not
// change are left alone with their connections, counters and templates;
// changed schedulers, persistence and weights apply in place; removed
// services and real servers stop taking new connections and drain. cfg is
// checked whole before anything changes: on error the table is untouched.
func (t *Table) Apply(cfg *model.Config) (Changes, error) {
	var ch Changes
	want := map[model.ServiceKey]*model.Service{}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if !s.Active {
			continue
		}
		k := s.Key()
		if _, dup := want[k]; dup {
			return ch, fmt.Errorf("virtual service %s (%s) defined twice", k, s.Name)
		}
		want[k] = s
	}
	// Build every scheduler that will be needed before touching anything.
	scheds := map[model.ServiceKey]Scheduler{}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.services.Load()
	for k, s := range want {
		if o, ok := old[k]; ok {
			oc := o.cfg.Load()
			if oc.Scheduler == s.Scheduler && oc.SchedFlags == s.SchedFlags {
				continue
			}
		}
		if t.newSched == nil {
			return ch, errors.New("table has no scheduler constructor")
		}
		sc, err := t.newSched(s.Scheduler, s.SchedFlags)
		if err != nil {
			return ch, fmt.Errorf("virtual service %s (%s): %w", k, s.Name, err)
		}
		scheds[k] = sc
	}
	for _, s := range want {
		seen := map[model.DestKey]bool{}
		for _, rs := range s.RealServers {
			if !rs.Active {
				continue
			}
			if seen[rs.Key()] {
				return ch, fmt.Errorf("virtual service %s (%s): real server %s defined twice", s.Key(), s.Name, rs.Key())
			}
			seen[rs.Key()] = true
		}
	}

	to := cfg.Global
	tcp, fin, udp := to.Timeouts()
	t.timeouts.Store(&timeouts{tcp, fin, udp})
	t.fwd.Store(uint32(cfg.Global.Network))
	t.expireQuiescent.Store(cfg.Global.ExpireQuiescentTemplate)
	t.expireNodest.Store(cfg.Global.ExpireNodestConn)

	next := make(map[model.ServiceKey]*Service, len(want))
	for k, s := range want {
		if o, ok := old[k]; ok {
			if o.update(s, scheds[k]) {
				ch.Updated = append(ch.Updated, k)
			} else {
				ch.Unchanged = append(ch.Unchanged, k)
			}
			next[k] = o
			continue
		}
		next[k] = t.newService(s, scheds[k])
		ch.Added = append(ch.Added, k)
	}
	for k, o := range old {
		if _, ok := next[k]; !ok {
			o.remove()
			ch.Removed = append(ch.Removed, k)
		}
	}
	t.services.Store(&next)
	t.notify()
	for _, l := range [][]model.ServiceKey{ch.Added, ch.Updated, ch.Removed, ch.Unchanged} {
		slices.SortFunc(l, CompareKeys)
	}
	return ch, nil
}

// Tick advances the rate estimators and sweeps expired connection entries
// and templates. The owner of the table calls it every 2 seconds, the
// kernel estimator's period.
func (t *Table) Tick() {
	for _, s := range t.Services() {
		s.est.tick(s.Counters.Snapshot())
		for _, d := range s.allDests() {
			d.est.tick(d.Counters.Snapshot())
		}
	}
	t.Expire()
}

// Expire removes the closed connection entries and the templates whose
// time has come; Tick calls it.
func (t *Table) Expire() {
	now := t.clock.Now()
	// In batches, so that a million entries expiring at once cost no
	// million-entry copy.
	var buf []lingerRec
	for {
		buf = t.linger.due(now, buf, lingerBlock)
		for i := range buf {
			buf[i].expire()
		}
		if len(buf) < lingerBlock {
			break
		}
	}
	t.templates.Expire(now, func(tp *persistence.Template[*Dest]) {
		tp.Dest.persist.Add(-1)
	})
}

// Templates calls fn for every persistence template.
func (t *Table) Templates(fn func(*persistence.Template[*Dest]) bool) { t.templates.Range(fn) }

// Conns calls fn for every open connection until fn returns false; the
// closed ones that linger are only counted and listed (ConnSnapshot).
func (t *Table) Conns(fn func(*Conn) bool) { t.conns.rangeAll(fn) }

// ConnCount returns the number of open connections: those the data plane
// has not closed.
func (t *Table) ConnCount() int { return int(t.open.Load()) }

// EntryCount returns the number of connection entries, open or lingering.
func (t *Table) EntryCount() int { return int(t.conns.n.Load()) + t.linger.count() }

// dropTemplates removes the templates that send clients to d.
func (t *Table) dropTemplates(d *Dest) {
	t.templates.DeleteFunc(func(tp *persistence.Template[*Dest]) bool { return tp.Dest == d },
		func(tp *persistence.Template[*Dest]) { d.persist.Add(-1) })
}

// network returns the router-wide forwarding method.
func (t *Table) network() model.Forward {
	if f := model.Forward(t.fwd.Load()); f != model.ForwardDefault {
		return f
	}
	return model.ForwardNAT
}
