package table

import (
	"cmp"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/persistence"
)

type schedBox struct{ s Scheduler }

// Service is a live virtual service.
type Service struct {
	key   model.ServiceKey
	t     *Table
	cfg   atomic.Pointer[model.Service]
	sched atomic.Pointer[schedBox]
	list  atomic.Pointer[[]*Dest] // the scheduling list: in-service dests, newest first

	mu    sync.Mutex         // guards dests and gone; writers only
	dests []*Dest            // configured dests, config order, any state
	gone  map[*Dest]struct{} // removed dests still holding connections

	removed atomic.Bool
	open    atomic.Int64  // connection entries not yet closed (max_conns)
	refused atomic.Uint64 // new connections refused by max_conns
	sorry   *Dest         // the sorry server, nil if none; guarded by mu
	sorryOn bool          // guarded by mu
	// seq numbers the dests' entries into the scheduling list; guarded by
	// mu.
	seq uint64

	// Counters accumulate the service's traffic.
	Counters Counters
	est      estimator
}

func (t *Table) newService(cfg *model.Service, sc Scheduler) *Service {
	s := &Service{key: cfg.Key(), t: t, gone: map[*Dest]struct{}{}}
	c := *cfg
	s.cfg.Store(&c)
	s.sched.Store(&schedBox{sc})
	for _, rs := range cfg.RealServers {
		if rs.Active {
			s.dests = append(s.dests, s.newDest(rs))
		}
	}
	s.rebuild()
	return s
}

func (s *Service) newDest(rs model.RealServer) *Dest {
	d := NewDest(rs)
	d.svc = s
	return d
}

// Key returns the service's key.
func (s *Service) Key() model.ServiceKey { return s.key }

// Config returns the service's current configuration.
func (s *Service) Config() *model.Service { return s.cfg.Load() }

// SchedulerName returns the name of the service's scheduler.
func (s *Service) SchedulerName() model.Scheduler { return s.sched.Load().s.Name() }

// Removed reports whether a reload removed the service.
func (s *Service) Removed() bool { return s.removed.Load() }

// Dests returns the configured real servers in configuration order, in any
// state.
func (s *Service) Dests() []*Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Dest(nil), s.dests...)
}

// SchedList returns the scheduling list: the real servers in service
// (and the sorry server while it serves) in the kernel's order, newest
// first (see order).
func (s *Service) SchedList() []*Dest { return append([]*Dest(nil), *s.list.Load()...) }

// Dest returns the configured real server with key k, or nil.
func (s *Service) Dest(k model.DestKey) *Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if d.key == k {
			return d
		}
	}
	return nil
}

// allDests returns, for listings, the scheduling list in the kernel's
// order (newest first, as ipvsadm -L shows the kernel's), then the
// configured dests out of service (down, disabled) in configuration
// order, the sorry server while it still has connections, and removed
// dests that still drain.
func (s *Service) allDests() []*Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]*Dest(nil), *s.list.Load()...)
	for _, d := range s.dests {
		if !d.listed {
			out = append(out, d)
		}
	}
	if s.sorry != nil && !s.sorry.listed && s.sorry.active.Load()+s.sorry.inact.Load() > 0 {
		out = append(out, s.sorry)
	}
	for d := range s.gone {
		if !d.listed {
			out = append(out, d)
		}
	}
	return out
}

// rebuild recomputes the scheduling list and hands it to the scheduler.
// While no real server is up with a weight, the sorry server (if any) joins
// the list, as Piranha's lvsd added it when no nanny reported its server
// active, and leaves again when one returns. Called with s.mu held (or
// before the service is published).
func (s *Service) rebuild() { s.rebuildWith(nil) }

// rebuildWith is rebuild that also replaces the scheduler with sc (if not
// nil). The new scheduler gets the list before it is published, so a
// concurrent Schedule never meets a scheduler without real servers.
func (s *Service) rebuildWith(sc Scheduler) {
	list := make([]*Dest, 0, len(s.dests)+1)
	up := false
	for _, d := range s.dests {
		if d.State().InService() {
			list = append(list, d)
		}
		if d.State() == StateUp && d.weight.Load() > 0 {
			up = true
		}
	}
	for d := range s.gone {
		if d.listed {
			list = append(list, d)
		}
	}
	cfg := s.cfg.Load()
	if s.sorry != nil && (!cfg.Sorry.IsValid() || netip.AddrPortFrom(s.sorry.key.Addr, s.sorry.key.Port) != cfg.Sorry) {
		s.sorry.removed.Store(true)
		s.sorry, s.sorryOn = nil, false
	}
	if s.sorry == nil && cfg.Sorry.IsValid() && !s.removed.Load() {
		s.sorry = s.newDest(model.RealServer{Name: "sorry", Addr: cfg.Sorry.Addr().Unmap(),
			Port: cfg.Sorry.Port(), Weight: 1, Active: true})
	}
	on := s.sorry != nil && !up && !s.removed.Load()
	if on {
		list = append(list, s.sorry)
	}
	if on != s.sorryOn && s.sorry != nil {
		s.t.log.Info("sorry server", "service", s.key.String(), "server", s.sorry.key.String(),
			"active", on)
	}
	s.sorryOn = on
	s.order(list)
	prev := s.list.Load()
	s.list.Store(&list)
	if prev != nil {
		for _, d := range *prev {
			d.avail.Store(false)
		}
	}
	for _, d := range list {
		d.avail.Store(true)
	}
	// A scheduler that indexes its list by load watches its destinations;
	// the list it gets next makes the watches anew, so those of servers
	// that left it, or of a scheduler being replaced, stop here.
	if prev != nil {
		for _, d := range *prev {
			d.Watch(nil)
		}
	}
	if sc != nil {
		// A new scheduler on a live service starts, as ip_vs_bind_scheduler
		// has it, from the whole current list.
		sc.Update(list)
		s.sched.Store(&schedBox{sc})
	} else {
		var cur []*Dest
		if prev != nil {
			cur = *prev
		}
		replay(s.sched.Load().s, cur, list)
	}
	s.t.notify()
}

// order sorts list as the kernel keeps svc->destinations: __ip_vs_update_dest
// links every destination it adds at the head (list_add_rcu), so the list
// is newest first, and every scheduler's walk and tie-break follows that.
// A destination enters when it joins the list (configured, back up after
// being down, re-added after a removal, the sorry server switched on) and
// keeps its place while it stays, whatever its weight; the data planes add
// several at once in configuration order, as the kernel plane issues them.
// Called with s.mu held.
func (s *Service) order(list []*Dest) {
	in := make(map[*Dest]bool, len(list))
	for _, d := range list {
		in[d] = true
		if !d.listed {
			s.seq++
			d.listed, d.seq = true, s.seq
		}
	}
	for _, d := range append(append([]*Dest(nil), s.dests...), s.sorry) {
		if d != nil && !in[d] {
			d.listed = false
		}
	}
	slices.SortStableFunc(list, func(a, b *Dest) int { return cmp.Compare(b.seq, a.seq) })
}

// replay hands the scheduler the change from cur to next the way the
// kernel's scheduler sees it: one del_dest per destination that left, then
// one add_dest per destination that joined, oldest first, each with the
// list as it then stands; a change of weights or states alone is one
// upd_dest. Schedulers whose state carries over between calls (wrr's
// current weight, the hash tables) then end up where the kernel's do: wrr
// started from a fresh service with weights 3, 2 and 1 added one by one
// keeps cw at 1, not at the maximum weight.
func replay(sc Scheduler, cur, next []*Dest) {
	steps := 0
	in := make(map[*Dest]bool, len(next))
	for _, d := range next {
		in[d] = true
	}
	for i := 0; i < len(cur); {
		if in[cur[i]] {
			i++
			continue
		}
		cur = slices.Delete(slices.Clone(cur), i, i+1)
		sc.Update(cur)
		steps++
	}
	had := make(map[*Dest]bool, len(cur))
	for _, d := range cur {
		had[d] = true
	}
	for i := len(next) - 1; i >= 0; i-- {
		if d := next[i]; !had[d] {
			cur = append([]*Dest{d}, cur...)
			sc.Update(cur)
			steps++
		}
	}
	if steps == 0 {
		sc.Update(next)
	}
}

// SorryActive reports whether the sorry server is taking the service's
// connections.
func (s *Service) SorryActive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sorryOn
}

// update applies a new configuration of the same key; it reports whether
// anything changed.
func (s *Service) update(cfg *model.Service, sc Scheduler) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cfg.Load()
	changed := !reflect.DeepEqual(old, cfg)
	c := *cfg
	s.cfg.Store(&c)
	byKey := map[model.DestKey]*Dest{}
	for _, d := range s.dests {
		byKey[d.key] = d
	}
	var next []*Dest
	for _, rs := range cfg.RealServers {
		if !rs.Active {
			continue
		}
		if d, ok := byKey[rs.Key()]; ok {
			delete(byKey, rs.Key())
			if d.Config().Weight != rs.Weight {
				d.cweight.Store(int32(rs.Weight))
				d.weight.Store(effectiveWeight(d.State(), int32(rs.Weight)))
			}
			d.setConfig(rs)
			next = append(next, d)
			continue
		}
		// A real server that was removed and comes back while it still
		// drains is revived with its counters.
		var revived *Dest
		for g := range s.gone {
			if g.key == rs.Key() {
				revived = g
				break
			}
		}
		if revived != nil {
			delete(s.gone, revived)
			revived.removed.Store(false)
			revived.setConfig(rs)
			revived.cweight.Store(int32(rs.Weight))
			revived.weight.Store(effectiveWeight(revived.State(), int32(rs.Weight)))
			next = append(next, revived)
			continue
		}
		next = append(next, s.newDest(rs))
	}
	for _, d := range byKey {
		s.retire(d)
	}
	s.dests = next
	s.rebuildWith(sc)
	return changed
}

// retire takes d out of the configuration; it lingers while it has
// connections. Called with s.mu held.
//
// One with connections stays in the scheduling list at weight 0, in its
// place, as the kernel plane leaves it in the kernel until its last
// connection ends: sh and dh keep giving it its buckets, and a reload
// that adds it back finds it where it was. It leaves the list with its
// last connection (dropGone).
//
// With expire_nodest_conn it leaves the list at once, as a dest deleted
// from the kernel does, and its connections are expired (ExpireNodest).
// It stays among the gone, for its counters, until they have ended.
func (s *Service) retire(d *Dest) {
	d.removed.Store(true)
	d.weight.Store(0)
	s.t.dropTemplates(d)
	if d.active.Load()+d.inact.Load() > 0 {
		s.gone[d] = struct{}{}
		if s.t.expireNodest.Load() {
			d.listed = false
		}
	} else {
		d.listed = false
	}
}

// Gone returns the removed real servers that still hold connections.
func (s *Service) Gone() []*Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Dest, 0, len(s.gone))
	for d := range s.gone {
		out = append(out, d)
	}
	return out
}

// dropGone forgets removed dest d once its last connection has ended.
func (s *Service) dropGone(d *Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.gone[d]; !ok {
		return
	}
	delete(s.gone, d)
	if d.listed {
		s.rebuild()
	}
}

// remove marks the service removed by a reload: no new connections; open
// ones finish.
func (s *Service) remove() {
	s.removed.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		s.retire(d)
	}
	s.dests = nil
	s.rebuild()
}

// SetState moves real server k to state st, recording why. It returns
// false if the service has no such real server.
func (s *Service) SetState(k model.DestKey, st State, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d *Dest
	for _, x := range s.dests {
		if x.key == k {
			d = x
		}
	}
	if d == nil {
		return false
	}
	prev := d.State()
	d.state.Store(uint32(st))
	d.reason.Store(&reason)
	d.weight.Store(effectiveWeight(st, d.cweight.Load()))
	// Down and disabled servers leave the kernel's list, and their
	// templates are no longer honoured; a drained one is at weight 0 in
	// it, like a quiesced one, and its persistent clients stay unless
	// expire_quiescent_template says otherwise (see Dest.available).
	if st == StateDown || st == StateDisabled {
		s.t.dropTemplates(d)
	}
	s.rebuild()
	if prev != st {
		s.t.log.Info("real server state", "service", s.key.String(), "server", k.String(),
			"from", prev.String(), "to", st.String(), "reason", reason)
	}
	return true
}

// SetWeight sets real server k's base weight (before its state's
// adjustment), as a health monitor's slow start or a load agent does.
func (s *Service) SetWeight(k model.DestKey, w int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dests {
		if d.key == k {
			d.cweight.Store(int32(w))
			d.weight.Store(effectiveWeight(d.State(), int32(w)))
			s.rebuild()
			return true
		}
	}
	return false
}

// Schedule chooses the real server for a new connection p and opens its
// connection entry, following ip_vs_schedule and, for persistent services,
// ip_vs_sched_persist. The caller must Close the returned Conn.
func (s *Service) Schedule(p *Packet) (*Conn, error) {
	// The place is taken before the decision, so that concurrent
	// connections cannot all pass a bound that one of them fills.
	n := s.open.Add(1)
	if m := s.cfg.Load().MaxConns; m > 0 && n > int64(m) {
		s.open.Add(-1)
		s.refused.Add(1)
		return nil, ErrServiceFull
	}
	d, tp, err := s.pick(p)
	if err != nil {
		s.open.Add(-1)
		return nil, err
	}
	c := s.t.newConn(s, d, tp, p)
	return c, nil
}

// OpenConns returns the service's connection entries not yet closed.
func (s *Service) OpenConns() int { return int(s.open.Load()) }

// Refused returns how many new connections max_conns refused.
func (s *Service) Refused() uint64 { return s.refused.Load() }

// Pick chooses a real server for one datagram of a one-packet-scheduled
// UDP service: no connection entry is made (as with ipvsadm -o), but the
// destination's connection counter and the rates see it. It returns the
// address to send to.
func (s *Service) Pick(p *Packet) (*Dest, netip.AddrPort, error) {
	d, tp, err := s.pick(p)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if tp != nil {
		tp.Release(s.t.clock.Now())
	}
	d.Counters.Conns.Add(1)
	s.Counters.Conns.Add(1)
	return d, s.target(d, p, tp != nil), nil
}

func (s *Service) pick(p *Packet) (*Dest, *persistence.Template[*Dest], error) {
	if s.removed.Load() {
		return nil, nil, ErrServiceRemoved
	}
	cfg := s.cfg.Load()
	sc := s.sched.Load().s
	if !cfg.Persistence.Enabled() {
		d := sc.Schedule(p)
		if d == nil {
			return nil, nil, ErrNoDest
		}
		return d, nil, nil
	}
	pers := cfg.Persistence
	k := persistence.MakeKey(s.key, p.Src.Addr(), pers.Bits(model.FamilyOf(p.Src.Addr())))
	tp, created, dropped := s.t.templates.Acquire(k, s.t.clock.Now(), pers.Timeout,
		func(d *Dest) bool {
			return d.svc == s && d.available(pers.ExpireQuiescent || s.t.expireQuiescent.Load())
		},
		func() (*Dest, bool) {
			d := sc.Schedule(p)
			return d, d != nil
		})
	if dropped != nil {
		dropped.Dest.persist.Add(-1)
	}
	if tp == nil {
		return nil, nil, ErrNoDest
	}
	if created {
		tp.Dest.persist.Add(1)
	}
	return tp.Dest, tp, nil
}

// target resolves the real server's address and port for a connection to
// p.Dst, as the kernel does: a persistent service keeps the packet's
// destination port unless it is the service port and the real server has a
// port (so a persistent mark service keeps every bundled port); otherwise
// the real server's port, or the packet's when it is zero.
func (s *Service) target(d *Dest, p *Packet, persistent bool) netip.AddrPort {
	dport := p.Dst.Port()
	if persistent {
		if dport == s.key.Port && d.key.Port != 0 {
			dport = d.key.Port
		}
	} else if d.key.Port != 0 {
		dport = d.key.Port
	}
	return netip.AddrPortFrom(d.key.Addr, dport)
}

// Rates returns the service's estimated rates.
func (s *Service) Rates() Rates { return s.est.rates() }

// Rates returns the real server's estimated rates.
func (d *Dest) Rates() Rates { return d.est.rates() }

// SetRates gives the service the rates of the plane's own estimator: the
// kernel plane reads IPVS's, which ipvsadm --rate shows, instead of
// estimating them again from mirrored counters at another phase.
func (s *Service) SetRates(r Rates) { s.est.set(r) }

// SetRates gives the real server the rates of the plane's own estimator
// (see Service.SetRates).
func (d *Dest) SetRates(r Rates) { d.est.set(r) }

// String renders the service key.
func (s *Service) String() string { return fmt.Sprint(s.key) }
