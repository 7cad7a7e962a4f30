package ipvs

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// wantService derives the kernel's image of a table service: Up real
// servers at their weight, Quiesced and Draining ones at weight 0 (they
// finish their connections), Down and Disabled ones absent, and the sorry
// server while the table sends the service's connections to it.
func (p *Plane) wantService(s *table.Service) kstate {
	cfg := s.Config()
	k := s.Key()
	ks := KService{Key: k, Scheduler: string(s.SchedulerName())}
	if cfg.Persistence.Enabled() {
		ks.Flags |= svcFlagPersistent
		ks.Timeout = uint32(max(1, cfg.Persistence.Timeout/time.Second))
		ks.PrefixLen = cfg.Persistence.Bits(k.AddrFamily())
	}
	if cfg.OnePacket {
		ks.Flags |= svcFlagOnePacket
	}
	if cfg.SchedFlags.Has(model.FlagFallback) {
		ks.Flags |= svcFlagSched1
	}
	if cfg.SchedFlags.Has(model.FlagPort) {
		ks.Flags |= svcFlagSched2
	}
	if cfg.SchedFlags.Has(model.FlagSched3) {
		ks.Flags |= svcFlagSched3
	}
	st := kstate{svc: ks}
	seen := map[model.DestKey]bool{}
	for _, d := range s.Dests() {
		if !d.State().InService() {
			continue
		}
		rc := d.Config()
		kd := KDest{Addr: d.Addr(), Port: d.Port(), Forward: rc.Forward, Weight: d.Weight(),
			Upper: rc.UpperThreshold, Lower: rc.LowerThreshold}
		if kd.Forward == model.ForwardDefault {
			kd.Forward = p.network()
		}
		if kd.Forward == model.ForwardTUN {
			kd.Tunnel = rc.Tunnel
		}
		st.dests = append(st.dests, kd)
		seen[kd.Key()] = true
	}
	if cfg.Sorry.IsValid() && s.SorryActive() {
		kd := KDest{Addr: cfg.Sorry.Addr().Unmap(), Port: cfg.Sorry.Port(), Forward: p.network(), Weight: 1}
		if !seen[kd.Key()] {
			st.dests = append(st.dests, kd)
		}
	}
	return st
}

func sameService(want, have KService) bool {
	if want.Scheduler != have.Scheduler || want.Flags != have.Flags&svcFlagsMask {
		return false
	}
	if want.Flags&svcFlagPersistent != 0 {
		return want.Timeout == have.Timeout && want.PrefixLen == have.PrefixLen
	}
	return true
}

func sameDest(want, have KDest) bool {
	if want.Weight != have.Weight || want.Upper != have.Upper || want.Lower != have.Lower {
		return false
	}
	// The kernel may report a real server on a local address as "local";
	// that cannot be changed, so it is not a difference.
	if have.Forward == model.ForwardDefault {
		return true
	}
	if want.Forward != have.Forward {
		return false
	}
	return want.Forward != model.ForwardTUN || want.Tunnel == have.Tunnel
}

// readKernel reads the kernel's services and, for those in keys, their real
// servers.
func (p *Plane) readKernel(keys map[model.ServiceKey]bool) (map[model.ServiceKey]*kstate, error) {
	svcs, err := p.k.Services()
	if err != nil {
		return nil, err
	}
	out := make(map[model.ServiceKey]*kstate, len(svcs))
	for _, s := range svcs {
		st := &kstate{svc: s}
		if keys[s.Key] {
			if st.dests, err = p.k.Dests(s.Key); err != nil {
				return nil, err
			}
		}
		out[s.Key] = st
	}
	return out, nil
}

// reconcileLocked makes the kernel match the table, changing only what
// differs; never a flush, so a reload drops no connection. With fromKernel
// it reads what the kernel holds; otherwise it trusts what it installed
// last (the repair timer catches changes made behind its back).
func (p *Plane) reconcileLocked(fromKernel bool, why string) error {
	var errs []error
	if fromKernel {
		if err := p.timeoutsLocked(); err != nil {
			errs = append(errs, err)
		}
		if err := p.syncDaemonLocked(); err != nil {
			errs = append(errs, err)
		}
		if err := p.sysctlsLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.marksLocked(fromKernel); err != nil {
		errs = append(errs, err)
	}
	if err := p.servicesLocked(fromKernel, why); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *Plane) servicesLocked(fromKernel bool, why string) error {
	services := p.t.Services()
	want := make([]kstate, 0, len(services))
	wantKeys := make(map[model.ServiceKey]bool, len(services))
	// configured holds, per service, the real servers the configuration
	// still names (in any state): one missing from the kernel image for
	// that reason (Down, Disabled) goes at once, one that left the
	// configuration drains first.
	configured := make(map[model.ServiceKey]map[model.DestKey]bool, len(services))
	for _, s := range services {
		if s.Removed() {
			continue
		}
		want = append(want, p.wantService(s))
		wantKeys[s.Key()] = true
		ds := s.Dests()
		m := make(map[model.DestKey]bool, len(ds))
		for _, d := range ds {
			m[d.Key()] = true
		}
		configured[s.Key()] = m
	}
	have := p.cache
	if fromKernel || have == nil {
		interest := make(map[model.ServiceKey]bool, len(wantKeys)+len(p.owned))
		for k := range wantKeys {
			interest[k] = true
		}
		for k := range p.owned {
			interest[k] = true
		}
		var err error
		if have, err = p.readKernel(interest); err != nil {
			p.cache = nil
			return err
		}
	}
	var ops []Op
	next := make(map[model.ServiceKey]*kstate, len(want))
	ownedChanged, draining := false, false
	for i := range want {
		w := &want[i]
		k := w.svc.Key
		h, ok := have[k]
		st := &kstate{svc: w.svc, dests: w.dests}
		if !ok {
			ops = append(ops, Op{Kind: OpAddService, Service: w.svc})
			for _, d := range w.dests {
				ops = append(ops, Op{Kind: OpAddDest, Service: w.svc, Dest: d})
			}
		} else {
			if !p.owned[k] {
				p.log.Warn("ipvs: taking over a kernel service the configuration names", "service", k.String())
			}
			if !sameService(w.svc, h.svc) {
				ops = append(ops, Op{Kind: OpEditService, Service: w.svc})
			}
			dops, drain := diffDests(w.svc, w.dests, h.dests, configured[k], p.global.ExpireNodestConn)
			ops = append(ops, dops...)
			if len(drain) > 0 {
				st.dests = append(slices.Clone(w.dests), drain...)
				draining = true
			}
		}
		next[k] = st
		if !p.owned[k] {
			p.owned[k] = true
			ownedChanged = true
		}
	}
	for k := range p.owned {
		if wantKeys[k] {
			continue
		}
		h, ok := have[k]
		if !ok {
			delete(p.owned, k)
			ownedChanged = true
			continue
		}
		// A service the configuration dropped takes no new connection
		// (every real server at weight 0) and goes once its connections
		// are over, as the table lets it drain; with expire_nodest_conn
		// it goes at once, and the kernel expires its connections.
		if busy(h.dests) && !p.global.ExpireNodestConn {
			st := &kstate{svc: h.svc}
			for _, d := range h.dests {
				if d.Weight != 0 {
					d.Weight = 0
					ops = append(ops, Op{Kind: OpEditDest, Service: h.svc, Dest: d})
				}
				st.dests = append(st.dests, d)
			}
			next[k] = st
			draining = true
			continue
		}
		ops = append(ops, Op{Kind: OpDelService, Service: h.svc})
		delete(p.owned, k)
		ownedChanged = true
	}
	// Record ownership before touching the kernel: a crash in between
	// must not leave services govs installed looking like someone else's.
	if ownedChanged {
		if err := saveState(p.o.StateFile, p.owned); err != nil {
			p.log.Warn("ipvs: cannot record the services govs installed", "file", p.o.StateFile, "error", err.Error())
		}
	}
	p.draining = draining
	n, err := p.k.Apply(ops)
	p.logOps(ops[:n], why)
	if err != nil {
		p.cache = nil
		if n < len(ops) {
			return explainOp(ops[n], err)
		}
		return err
	}
	p.cache = next
	return nil
}

// explainOp names what the kernel lacks when it refuses op: IPVS answers
// ENOENT when a service names a scheduler whose module (ip_vs_NAME) it
// cannot load, and EOPNOTSUPP or EAFNOSUPPORT for what it was built
// without.
func explainOp(op Op, err error) error {
	switch {
	case (op.Kind == OpAddService || op.Kind == OpEditService) && errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%s: the kernel has no %s scheduler (module ip_vs_%s): %w", op, op.Service.Scheduler,
			op.Service.Scheduler, err)
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EAFNOSUPPORT):
		return fmt.Errorf("%s: the kernel's IPVS does not support this: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func busy(ds []KDest) bool {
	for _, d := range ds {
		if d.Active+d.Inactive > 0 {
			return true
		}
	}
	return false
}

// diffDests lists the changes that turn have into want: additions and
// edits first, removals last, so a service never passes through having no
// real server while one replaces another. A real server that left the
// configuration (or a sorry server no longer needed) but still has
// connections is set to weight 0 and kept, returned in draining, until they
// end: the kernel drops the packets of connections whose real server was
// deleted. One the configuration still names (Down, Disabled) is removed at
// once.
func diffDests(svc KService, want, have []KDest, configured map[model.DestKey]bool, expireNodest bool) (ops []Op, draining []KDest) {
	byKey := make(map[model.DestKey]KDest, len(have))
	for _, d := range have {
		byKey[d.Key()] = d
	}
	keep := make(map[model.DestKey]bool, len(want))
	for _, d := range want {
		keep[d.Key()] = true
		h, ok := byKey[d.Key()]
		switch {
		case !ok:
			ops = append(ops, Op{Kind: OpAddDest, Service: svc, Dest: d})
		case !sameDest(d, h):
			ops = append(ops, Op{Kind: OpEditDest, Service: svc, Dest: d})
		}
	}
	for _, d := range have {
		if keep[d.Key()] {
			continue
		}
		// With expire_nodest_conn a removed server goes at once, and the
		// kernel expires its connections.
		if !configured[d.Key()] && d.Active+d.Inactive > 0 && !expireNodest {
			if d.Weight != 0 {
				d.Weight = 0
				ops = append(ops, Op{Kind: OpEditDest, Service: svc, Dest: d})
			}
			draining = append(draining, d)
			continue
		}
		ops = append(ops, Op{Kind: OpDelDest, Service: svc, Dest: d})
	}
	return ops, draining
}

// logOps reports changes: each one when repairing (someone changed the
// kernel by hand, and the operator should see what was undone), a count
// otherwise, so a large reload does not flood the log.
func (p *Plane) logOps(ops []Op, why string) {
	if len(ops) == 0 {
		return
	}
	if why == "repair" {
		for i, op := range ops {
			if i == 50 {
				p.log.Warn("ipvs: repaired drift", "more", len(ops)-i)
				break
			}
			p.log.Warn("ipvs: repaired drift", "change", op.String())
		}
		return
	}
	if len(ops) <= 20 {
		for _, op := range ops {
			p.log.Info("ipvs: kernel table", "change", op.String(), "why", why)
		}
		return
	}
	p.log.Info("ipvs: kernel table", "changes", len(ops), "why", why)
}
