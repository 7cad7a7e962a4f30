package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Options configure a Plane.
type Options struct {
	// Logger receives what the plane changes and repairs; discarded if nil.
	Logger *slog.Logger
	// Kernel is the IPVS to program; the running kernel over netlink, in
	// the caller's network namespace, if nil.
	Kernel Kernel
	// Marker installs the mark rules of firewall-mark services; nftables
	// in the caller's network namespace if nil.
	Marker Marker
	// RepairInterval is how often the kernel is compared with the table to
	// undo changes made behind govs's back (ipvsadm by hand). 30 s if zero;
	// negative turns repair off.
	RepairInterval time.Duration
	// StatsInterval is how often the kernel's counters are copied into the
	// table. 2 s (the kernel estimator's period) if zero; negative turns
	// it off.
	StatsInterval time.Duration
	// NFTable names govs's nftables table (family inet). "govs" if empty.
	NFTable string
	// StateFile remembers which kernel services govs installed.
	// DefaultStateFile if empty; "-" keeps the record in memory only.
	StateFile string
	// LoadModule loads a kernel module (ip_vs_ftp when a service has
	// ftp = 1); LoadModule (modprobe) if nil.
	LoadModule func(name string) error
	// SyncState is the sync daemon's role when lvs.cf turns it on. A
	// router that programs IPVS is the active one, so master if zero;
	// SetSyncState changes it on failover.
	SyncState SyncState
}

// Plane is the kernel data plane: it keeps IPVS and govs's mark rules in
// step with the virtual server table, and the table's counters in step
// with the kernel's.
type Plane struct {
	t      *table.Table
	o      Options
	log    *slog.Logger
	k      Kernel
	marker Marker

	mu        sync.Mutex // serialises every change to the kernel
	global    model.Global
	committed bool // a configuration was committed: the table is the truth
	pending   bool // a Prepare awaits Commit or Abort
	closed    bool
	owned     map[model.ServiceKey]bool
	cache     map[model.ServiceKey]*kstate // what govs last installed; nil: unknown
	rules     []MarkRule                   // installed mark rules
	rulesOK   bool
	draining  bool    // real servers or services drain: read the kernel until they are gone
	started   *Daemon // the sync daemon govs started
	syncState SyncState
	ftpLoaded bool              // ip_vs_ftp is loaded
	sysctls   map[string]string // IPVS sysctls as last written

	stop chan struct{}
	done chan struct{}
}

// kstate is one service as installed.
type kstate struct {
	svc   KService
	dests []KDest
}

var _ dataplane.Plane = (*Plane)(nil)

// New connects to the kernel and starts following t. It changes nothing in
// the kernel until the first Commit, so a restarted router takes over the
// services it installed before without disturbing their connections.
func New(t *table.Table, o Options) (*Plane, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RepairInterval == 0 {
		o.RepairInterval = 30 * time.Second
	}
	if o.StatsInterval == 0 {
		o.StatsInterval = 2 * time.Second
	}
	if o.NFTable == "" {
		o.NFTable = "govs"
	}
	switch o.StateFile {
	case "":
		o.StateFile = DefaultStateFile
	case "-":
		o.StateFile = ""
	}
	if o.SyncState == 0 {
		o.SyncState = SyncMaster
	}
	owned, err := loadState(o.StateFile)
	if err != nil {
		return nil, fmt.Errorf("ipvs: state file: %w", err)
	}
	p := &Plane{t: t, o: o, log: o.Logger, k: o.Kernel, marker: o.Marker, owned: owned,
		syncState: o.SyncState, stop: make(chan struct{}), done: make(chan struct{}), sysctls: map[string]string{}}
	if p.k == nil {
		if p.k, err = NewNetlinkKernel(); err != nil {
			return nil, err
		}
	}
	if p.marker == nil {
		if p.marker, err = NewNFTMarker(o.NFTable); err != nil {
			_ = p.k.Close()
			return nil, err
		}
	}
	// Watch before returning, so that no change made after New is missed.
	watch, stopWatch := t.Watch()
	go p.loop(watch, stopWatch)
	return p, nil
}

// Name returns "ipvs".
func (p *Plane) Name() string { return Capabilities.Name }

// Capabilities is what the kernel plane can do: every forwarding method,
// across address families only by tunnel; the kernel forwards packets
// unchanged, so no PROXY protocol, and bounds real servers (uthreshold),
// not services or the router.
var Capabilities = model.Capabilities{
	Name:          "ipvs",
	Title:         "kernel IPVS",
	Label:         "IPVS",
	Needs:         "kernel IPVS (root on a kernel with ip_vs)",
	Forwarding:    []model.Forward{model.ForwardNAT, model.ForwardDR, model.ForwardTUN},
	MixedFamilies: []model.Forward{model.ForwardTUN},
	Why: map[string]string{
		"proxy_protocol":    "proxy_protocol needs the proxy data plane; IPVS forwards packets unchanged",
		"max_conns":         "max_conns needs the proxy data plane; the kernel's connection table is bounded by its memory",
		"service max_conns": "max_conns needs the proxy data plane; IPVS bounds real servers, not services (set their uthreshold)",
		"families":          "only tunnel mixes families",
	},
}

// Capabilities returns the package's Capabilities.
func (p *Plane) Capabilities() model.Capabilities { return Capabilities }

// SetSyncRole starts the kernel's sync daemon as master or backup, when
// lvs.cf turns it on.
func (p *Plane) SetSyncRole(master bool) error {
	if master {
		return p.SetSyncState(SyncMaster)
	}
	return p.SetSyncState(SyncBackup)
}

// Registration offers the kernel plane: as root on a kernel with IPVS,
// and with the schedulers whose modules the kernel has.
func Registration() dataplane.Registration {
	return dataplane.Registration{Caps: Capabilities,
		Available: func() (bool, string) {
			ok, why := Available()
			if ok && os.Geteuid() != 0 {
				return false, "programming IPVS needs root"
			}
			return ok, why
		},
		Schedulers: func(s model.Scheduler) (bool, string) { return SchedulerAvailable(string(s)) },
		New: func(t *table.Table, log *slog.Logger) (dataplane.Plane, error) {
			p, err := New(t, Options{Logger: log})
			if err != nil {
				return nil, fmt.Errorf("kernel IPVS plane: %w", err)
			}
			return p, nil
		}}
}

type txn struct {
	p    *Plane
	cfg  *model.Config
	done bool
}

// Prepare checks that the kernel can carry cfg. The kernel itself changes
// only at Commit: IPVS has no two-phase change, so what can be refused is
// refused here, before the router touches the table.
func (p *Plane) Prepare(ctx context.Context, cfg *model.Config) (dataplane.Txn, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("ipvs: plane closed")
	}
	// While the router moves the table to cfg, the watcher leaves the
	// kernel alone: the table and the router-wide settings change in two
	// steps, and Commit installs both together.
	p.pending = true
	return &txn{p: p, cfg: cfg}, nil
}

// checkConfig refuses what IPVS cannot do.
func checkConfig(cfg *model.Config) error {
	var errs []error
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if !s.Active {
			continue
		}
		fam := s.Key().AddrFamily()
		for _, rs := range s.RealServers {
			if !rs.Active {
				continue
			}
			fwd := rs.Forward
			if fwd == model.ForwardDefault {
				fwd = cfg.Global.Network
			}
			if fwd == model.ForwardTUN && rs.Tunnel == model.TunnelGUE {
				errs = append(errs, fmt.Errorf("virtual %s: real server %s: GUE tunnels need a UDP port, which lvs.cf cannot give yet; use ipip or gre", s.Name, rs.Name))
			}
			if fwd != model.ForwardTUN && model.FamilyOf(rs.Addr) != fam {
				errs = append(errs, fmt.Errorf("virtual %s: real server %s: IPVS mixes IPv4 and IPv6 only in tunnel mode", s.Name, rs.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// Commit installs the configuration the table now holds: only what differs
// from the kernel changes, so connections of unchanged services and real
// servers carry on.
func (tx *txn) Commit() error {
	p := tx.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if tx.done {
		return errors.New("ipvs: transaction already finished")
	}
	tx.done = true
	p.pending = false
	if p.closed {
		return errors.New("ipvs: plane closed")
	}
	p.global = tx.cfg.Global
	p.committed = true
	p.ftpHelperLocked(tx.cfg)
	return p.reconcileLocked(true, "configuration")
}

// Abort forgets the prepared configuration.
func (tx *txn) Abort() {
	p := tx.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !tx.done {
		tx.done = true
		p.pending = false
	}
}

// Reconcile compares the kernel with the table now and repairs every
// difference, as the repair timer does.
func (p *Plane) Reconcile() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.committed {
		return nil
	}
	return p.reconcileLocked(true, "repair")
}

// SetSyncState switches the sync daemon's role (master on the active
// router, backup on the standby) when lvs.cf turns the daemon on.
func (p *Plane) SetSyncState(s SyncState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.syncState = s
	if !p.committed || p.closed {
		return nil
	}
	return p.syncDaemonLocked()
}

func (p *Plane) loop(watch <-chan struct{}, stopWatch func()) {
	defer close(p.done)
	defer stopWatch()
	tick := func(d time.Duration) <-chan time.Time {
		if d < 0 {
			return nil
		}
		tk := time.NewTicker(d)
		go func() { <-p.stop; tk.Stop() }()
		return tk.C
	}
	repair, stats := tick(p.o.RepairInterval), tick(p.o.StatsInterval)
	for {
		select {
		case <-p.stop:
			return
		case <-watch:
			p.mu.Lock()
			if p.committed && !p.pending && !p.closed {
				if err := p.reconcileLocked(false, "table change"); err != nil {
					p.log.Error("ipvs: following the table", "error", err.Error())
				}
			}
			p.mu.Unlock()
		case <-repair:
			if err := p.Reconcile(); err != nil {
				p.log.Error("ipvs: repairing the kernel table", "error", err.Error())
			}
		case <-stats:
			if err := p.mirrorStats(); err != nil {
				p.log.Warn("ipvs: reading the kernel's counters", "error", err.Error())
			}
			p.mu.Lock()
			if p.draining && p.committed && !p.pending && !p.closed {
				if err := p.servicesLocked(true, "drained"); err != nil {
					p.log.Error("ipvs: removing drained real servers", "error", err.Error())
				}
			}
			p.mu.Unlock()
		}
	}
}

// network is the router-wide forwarding method.
func (p *Plane) network() model.Forward {
	if p.global.Network != model.ForwardDefault {
		return p.global.Network
	}
	return model.ForwardNAT
}

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

func (p *Plane) marksLocked(verify bool) error {
	want := markRules(p.t, p.network())
	if p.rulesOK && equalRules(want, p.rules) {
		if !verify {
			return nil
		}
		ok, err := p.marker.Verify(want)
		if err != nil || ok {
			return err
		}
		p.log.Warn("ipvs: repaired drift", "change", "reinstall mark rules in table inet "+p.o.NFTable)
	}
	if len(want) == 0 && len(p.rules) == 0 && p.rulesOK {
		return nil
	}
	p.rulesOK = false
	if err := p.marker.Install(want); err != nil {
		return err
	}
	p.rules, p.rulesOK = want, true
	return nil
}

// sysctlsLocked sets the kernel's expire_quiescent_template and
// expire_nodest_conn from lvs.cf. expire_quiescent_template is the global
// keyword, or any persistent service's expire_quiescent, since the kernel
// has one setting for all. The proxy plane reads the same keywords, so a
// drained or quiesced server's persistent clients, and the connections of
// a server that left, are treated alike on both.
func (p *Plane) sysctlsLocked() error {
	eqt := p.global.ExpireQuiescentTemplate
	for _, s := range p.t.Services() {
		if c := s.Config(); c.Persistence.Enabled() && c.Persistence.ExpireQuiescent {
			eqt = true
		}
	}
	for _, sc := range []struct {
		name string
		on   bool
	}{{"expire_quiescent_template", eqt}, {"expire_nodest_conn", p.global.ExpireNodestConn}} {
		v := "0"
		if sc.on {
			v = "1"
		}
		if p.sysctls[sc.name] == v {
			continue
		}
		if err := p.k.SetSysctl(sc.name, v); err != nil {
			return err
		}
		p.sysctls[sc.name] = v
	}
	return nil
}

func (p *Plane) timeoutsLocked() error {
	g := p.global
	want := Timeouts{TCP: g.TCPTimeout, TCPFin: g.TCPFinTimeout, UDP: g.UDPTimeout}
	if want == (Timeouts{}) {
		return nil
	}
	have, err := p.k.Timeouts()
	if err != nil {
		return err
	}
	if (want.TCP == 0 || want.TCP == have.TCP) && (want.TCPFin == 0 || want.TCPFin == have.TCPFin) &&
		(want.UDP == 0 || want.UDP == have.UDP) {
		return nil
	}
	p.log.Info("ipvs: setting timeouts", "tcp", want.TCP, "tcpfin", want.TCPFin, "udp", want.UDP)
	return p.k.SetTimeouts(want)
}

// syncDaemonLocked runs the sync daemon lvs.cf asks for, as pulse did, and
// stops the one govs started when lvs.cf no longer asks.
func (p *Plane) syncDaemonLocked() error {
	var want *Daemon
	if p.global.SyncDaemon {
		iface := p.global.SyncdIface
		if iface == "" {
			iface = "eth0" // Piranha's default
		}
		want = &Daemon{State: p.syncState, Iface: iface, SyncID: uint32(max(0, p.global.SyncdID))}
	}
	if want == nil && p.started == nil {
		return nil
	}
	running, err := p.k.Daemons()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range running {
		stale := p.started != nil && d.State == p.started.State && (want == nil || *want != d)
		clash := want != nil && d.State == want.State && d != *want
		if stale || clash {
			if err := p.k.StopDaemon(d.State); err != nil {
				errs = append(errs, err)
			} else {
				p.log.Info("ipvs: sync daemon stopped", "state", d.State.String(), "iface", d.Iface, "syncid", d.SyncID)
			}
		}
	}
	p.started = nil
	if want != nil {
		if !containsDaemon(running, *want) {
			if err := p.k.StartDaemon(*want); err != nil {
				return errors.Join(append(errs, err)...)
			}
			p.log.Info("ipvs: sync daemon started", "state", want.State.String(), "iface", want.Iface, "syncid", want.SyncID)
		}
		p.started = want
	}
	return errors.Join(errs...)
}

func containsDaemon(list []Daemon, d Daemon) bool {
	for _, x := range list {
		if x == d {
			return true
		}
	}
	return false
}

// mirrorStats copies the kernel's connection counts and counters into the
// table, so listings, rates and the schedulers' view read the kernel.
func (p *Plane) mirrorStats() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.committed {
		return nil
	}
	svcs, err := p.k.Services()
	if err != nil {
		return err
	}
	byKey := make(map[model.ServiceKey]KService, len(svcs))
	for _, s := range svcs {
		byKey[s.Key] = s
	}
	for _, s := range p.t.Services() {
		ks, ok := byKey[s.Key()]
		if !ok || !p.owned[s.Key()] {
			continue
		}
		storeStats(&s.Counters, ks.Stats)
		dests, err := p.k.Dests(s.Key())
		if err != nil {
			return err
		}
		kd := make(map[model.DestKey]KDest, len(dests))
		for _, d := range dests {
			kd[d.Key()] = d
		}
		for _, d := range s.Dests() {
			if x, ok := kd[d.Key()]; ok {
				d.SetCounters(x.Active, x.Inactive, x.Persist)
				storeStats(&d.Counters, x.Stats)
			} else if d.State().InService() {
				// Not in the kernel (yet): nothing is connected there.
				d.SetCounters(0, 0, 0)
			}
		}
		// Removed servers draining at weight 0 in the kernel: their
		// counters stay live, and they leave the listing with the kernel's
		// last connection to them.
		for _, d := range s.Gone() {
			if x, ok := kd[d.Key()]; ok {
				d.SetCounters(x.Active, x.Inactive, x.Persist)
				storeStats(&d.Counters, x.Stats)
			} else {
				d.SetCounters(0, 0, 0)
			}
		}
	}
	return nil
}

func storeStats(c *table.Counters, s table.Stats) {
	c.Conns.Store(s.Conns)
	c.InPkts.Store(s.InPkts)
	c.OutPkts.Store(s.OutPkts)
	c.InBytes.Store(s.InBytes)
	c.OutBytes.Store(s.OutBytes)
}

// Close stops new connections (every real server of govs's services goes
// to weight 0), waits until ctx is done or no connection is left, then
// removes govs's services, mark rules and sync daemon. Services and rules
// that are not govs's stay.
func (p *Plane) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done

	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	have, err := p.readKernel(p.owned)
	if err != nil {
		errs = append(errs, err)
		have = nil
	}
	// Only services that hold connections are quiesced and waited for;
	// idle ones go at once.
	var quiesce []Op
	anyBusy := false
	for k := range p.owned {
		h, ok := have[k]
		if !ok || !busy(h.dests) {
			continue
		}
		anyBusy = true
		for _, d := range h.dests {
			if d.Weight != 0 {
				d.Weight = 0
				quiesce = append(quiesce, Op{Kind: OpEditDest, Service: h.svc, Dest: d})
			}
		}
	}
	if _, err := p.k.Apply(quiesce); err != nil {
		errs = append(errs, err)
	}
	if anyBusy {
		p.drain(ctx)
	}
	var del []Op
	for k := range p.owned {
		if h, ok := have[k]; ok {
			del = append(del, Op{Kind: OpDelService, Service: h.svc})
		}
	}
	if _, err := p.k.Apply(del); err != nil {
		errs = append(errs, err)
	} else {
		p.log.Info("ipvs: removed govs's services", "services", len(del))
		clear(p.owned)
		if err := saveState(p.o.StateFile, p.owned); err != nil {
			errs = append(errs, err)
		}
	}
	if p.started != nil {
		if err := p.k.StopDaemon(p.started.State); err != nil {
			errs = append(errs, err)
		}
		p.started = nil
	}
	if err := p.marker.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := p.k.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// drain waits, bounded by ctx, until govs's services hold no connection.
func (p *Plane) drain(ctx context.Context) {
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		left := 0
		for k := range p.owned {
			ds, err := p.k.Dests(k)
			if err != nil {
				continue
			}
			for _, d := range ds {
				left += d.Active + d.Inactive
			}
		}
		if left == 0 {
			return
		}
	}
}
