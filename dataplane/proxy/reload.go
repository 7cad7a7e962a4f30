package proxy

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

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
