package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
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
