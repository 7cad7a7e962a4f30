// Package router is an LVS router: it reads lvs.cf, keeps the virtual
// server table and a data plane in step with it, reloads without dropping
// connections, and stops gracefully. It is what Piranha's pulse and lvsd
// were, as one library that cmd/govs wraps.
//
// A configuration change follows one path whether it comes from a signal,
// the control socket or, later, the web tool: parse and validate the whole
// file, let the data plane acquire what the new configuration needs beside
// the running one, apply it to the table, then switch the plane over. Any
// failure before the switch leaves the running configuration untouched.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/config"
	"github.com/govs/govs/dataplane"
	"github.com/govs/govs/health"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Options configure a Router.
type Options struct {
	// ConfigPath is the lvs.cf file.
	ConfigPath string
	// HistoryKeep is how many revisions of the configuration the history
	// keeps in config.HistoryDir; config.DefaultHistoryKeep if zero.
	HistoryKeep int
	// Version is reported by Status.
	Version string
	// Logger receives the router's log; discarded if nil.
	Logger *slog.Logger
	// Clock tells the time; the system clock if nil.
	Clock clock.Clock
	// NewScheduler builds schedulers (package scheduler's New).
	NewScheduler table.NewSchedulerFunc
	// NewPlane builds the data plane named by lvs.cf's dataplane keyword
	// ("" means the default) for the table. It returns the plane and the
	// name it resolved to.
	NewPlane func(name string, t *table.Table, log *slog.Logger) (dataplane.Plane, error)
	// TickInterval is the estimator period; 2 s (the kernel's) if zero.
	TickInterval time.Duration
	// ReloadGCPercent, when above 0, is the garbage collector's target
	// (GOGC) while a reload runs. A reload holds the running
	// configuration and the new one at once; collecting its garbage
	// sooner keeps its peak near that (BenchmarkReloadMemory: with 25,
	// about 1.4 times the steady resident memory at 100,000 services,
	// against 1.65 with Go's default), for more CPU during the reload. It
	// sets a process-wide runtime knob, so the program decides: govs run
	// sets 25.
	ReloadGCPercent int
}

// Status describes a running router. It is the one status of govs: the
// control socket, govs status --json, the REST API and the web tool all
// show this type as it is.
type Status struct {
	Version    string    `json:"version"`
	ConfigPath string    `json:"config"`
	Plane      string    `json:"dataplane"`
	Started    time.Time `json:"started"`
	PID        int       `json:"pid"`
	SerialNo   int       `json:"serial_no"`
	// Reloads counts the reloads and edits applied, ReloadErrors those
	// refused; LastChange says what the last one applied changed
	// ("serial_no 7 → 8: +1 service").
	Reloads         int       `json:"reloads"`
	ReloadErrors    int       `json:"reload_errors"`
	LastReload      time.Time `json:"last_reload,omitzero"`
	LastReloadError string    `json:"last_reload_error,omitempty"`
	LastChange      string    `json:"last_change,omitempty"`
	// Sockets is the data plane's socket budget, for planes that hold a
	// socket per connection (the proxy).
	Sockets *dataplane.Sockets `json:"sockets,omitempty"`
	// Role is the router's redundancy role: active, backup or fault (a
	// lone router is active); Redundancy its VRRP pair in detail.
	Role       string           `json:"role"`
	Redundancy RedundancyStatus `json:"redundancy"`
}

// Router is a running LVS router.
type Router struct {
	o      Options
	log    *slog.Logger
	table  *table.Table
	plane  dataplane.Plane
	health *health.Manager
	red    *redundancy // nil without backup_active
	// history holds the revisions of the configuration file.
	history *config.History

	reloadMu sync.Mutex // one configuration change at a time
	cfg      atomic.Pointer[model.Config]

	mu     sync.Mutex
	status Status
}

// New loads the configuration, builds the table and the data plane, and
// starts serving it. On error nothing is left running.
func New(ctx context.Context, o Options) (*Router, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.TickInterval == 0 {
		o.TickInterval = 2 * time.Second
	}
	if o.NewPlane == nil || o.NewScheduler == nil {
		return nil, errors.New("router: NewPlane and NewScheduler are required")
	}
	// A crash between writing a temporary file and renaming it leaves
	// the temporary: nothing reads it.
	config.RemoveStaleTemps(o.ConfigPath)
	src, err := config.ReadFile(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.Parse(o.ConfigPath, src)
	if err != nil {
		return nil, err
	}
	r := &Router{o: o, log: o.Logger, history: config.NewHistory(o.ConfigPath, o.HistoryKeep)}
	r.table = table.New(table.Options{Clock: o.Clock, NewScheduler: o.NewScheduler, Logger: o.Logger})
	r.health = health.New(r.table, health.Options{Logger: o.Logger, Clock: o.Clock})
	plane, err := o.NewPlane(cfg.Global.Dataplane, r.table, o.Logger)
	if err != nil {
		return nil, err
	}
	// Now that the plane is known, what it cannot do is an error.
	if cfg, err = parse(o.ConfigPath, src, plane.Capabilities(), o.Logger); err != nil {
		_ = plane.Close(ctx)
		return nil, err
	}
	r.plane = plane
	if err := r.apply(ctx, cfg); err != nil {
		_ = plane.Close(ctx)
		return nil, err
	}
	if r.red, err = newRedundancy(r, cfg); err != nil {
		_ = plane.Close(ctx)
		return nil, err
	}
	r.status = Status{Version: o.Version, ConfigPath: o.ConfigPath, Plane: plane.Name(),
		Started: o.Clock.Now(), PID: os.Getpid(), SerialNo: cfg.Global.SerialNo}
	r.remember(src, cfg.Global.SerialNo, "file", "start")
	r.log.Info("router started", "config", o.ConfigPath, "dataplane", plane.Name(),
		"services", len(r.table.Services()))
	return r, nil
}

// parse parses and validates src for the plane that can do caps, logging
// warnings.
func parse(path string, src []byte, caps model.Capabilities, log *slog.Logger) (*model.Config, error) {
	cfg, res, err := config.ParseForPlane(path, src, caps)
	if res != nil {
		for _, w := range res.Warnings {
			log.Warn(w.String())
		}
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// apply moves the table and the plane to cfg, or changes nothing.
func (r *Router) apply(ctx context.Context, cfg *model.Config) error {
	txn, err := r.plane.Prepare(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s data plane: %w", r.plane.Name(), err)
	}
	ch, err := r.table.Apply(cfg)
	if err != nil {
		txn.Abort()
		return err
	}
	if err := txn.Commit(); err != nil {
		err = fmt.Errorf("%s data plane: %w", r.plane.Name(), err)
		r.rollback(ctx, err)
		return err
	}
	// Health follows the table: monitors for new real servers start, those
	// of unchanged ones keep their state, and health state and operator
	// overrides are pushed onto services the reload touched.
	r.health.Apply(cfg)
	r.cfg.Store(cfg)
	if r.red != nil {
		r.red.reconfigured(cfg)
	}
	r.log.Info("configuration applied", "serial_no", cfg.Global.SerialNo, "added", len(ch.Added),
		"updated", len(ch.Updated), "removed", len(ch.Removed), "unchanged", len(ch.Unchanged))
	return nil
}

// rollback puts the table, and the plane with it, back to the running
// configuration after the plane refused a new one at Commit (a kernel
// without a scheduler's module, say): a refused reload leaves both as
// they were, and the plane's repair loop does not go on retrying what it
// cannot do. At start there is nothing to go back to.
func (r *Router) rollback(ctx context.Context, cause error) {
	old := r.cfg.Load()
	if old == nil {
		return
	}
	if _, err := r.table.Apply(old); err != nil {
		r.log.Error("restoring the running configuration after a refusal", "refusal", cause.Error(), "error", err.Error())
		return
	}
	txn, err := r.plane.Prepare(ctx, old)
	if err == nil {
		err = txn.Commit()
	}
	if err != nil {
		r.log.Error("restoring the running configuration on the data plane after a refusal", "refusal", cause.Error(),
			"error", err.Error())
	}
}

// Reload re-reads the configuration file and applies it. A file with errors,
// or one the data plane cannot carry out, is refused and the running
// configuration stays; the error lists every problem as FILE:LINE: message.
func (r *Router) Reload(ctx context.Context) error {
	return r.recordReload(func() error { return r.reload(ctx) })
}

// recordReload runs a reload (of the file, or an Apply) under the reload
// lock and records it in the status.
func (r *Router) recordReload(do func() error) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if g := r.o.ReloadGCPercent; g > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(g))
	}
	before := r.cfg.Load()
	err := do()
	r.mu.Lock()
	r.status.LastReload = r.o.Clock.Now()
	if err != nil {
		r.status.ReloadErrors++
		r.status.LastReloadError = err.Error()
	} else {
		r.status.Reloads++
		r.status.LastReloadError = ""
		after := r.cfg.Load()
		r.status.SerialNo = after.Global.SerialNo
		r.status.LastChange = model.Diff(before, after).String()
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Error("reload refused; the running configuration stays", "error", err.Error())
	}
	return err
}

func (r *Router) reload(ctx context.Context) error {
	src, err := config.ReadFile(r.o.ConfigPath)
	if err != nil {
		return err
	}
	cfg, err := parse(r.o.ConfigPath, src, r.plane.Capabilities(), r.log)
	if err != nil {
		return err
	}
	if cfg.Global.Dataplane != "" && cfg.Global.Dataplane != r.plane.Name() &&
		!(cfg.Global.Dataplane == "auto") {
		return fmt.Errorf("%s: dataplane changed from %s to %s: a restart is needed to switch data planes",
			r.o.ConfigPath, r.plane.Name(), cfg.Global.Dataplane)
	}
	if err := r.apply(ctx, cfg); err != nil {
		return err
	}
	r.remember(src, cfg.Global.SerialNo, "file", "reload")
	return nil
}

// Run keeps the table's estimators and template expiry going until ctx is
// done, then stops the router: the plane stops accepting and open
// connections get until drainCtx is done to finish.
func (r *Router) Run(ctx context.Context, drain time.Duration) error {
	tick := time.NewTicker(r.o.TickInterval)
	defer tick.Stop()
	hctx, stopHealth := context.WithCancel(context.Background())
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		if err := r.health.Run(hctx); err != nil {
			r.log.Error("health monitoring stopped", "error", err)
		}
	}()
	// VRRP stops before the plane drains: the backup takes the addresses
	// over at once (priority 0) instead of after the down interval.
	vctx, stopVRRP := context.WithCancel(context.Background())
	vrrpDone := make(chan struct{})
	go func() {
		defer close(vrrpDone)
		if r.red == nil {
			return
		}
		if err := r.red.run(vctx); err != nil {
			r.log.Error("vrrp stopped: this router will not become active", "error", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			stopVRRP()
			<-vrrpDone
			// Checks stop first so that no server changes state while the
			// plane drains.
			stopHealth()
			<-healthDone
			return r.Close(drain)
		case <-tick.C:
			r.table.Tick()
		}
	}
}

// Override applies an operator override (disable, enable, drain, clear) to
// the real servers at target (port 0: any port), in service svc or in every
// service naming them. Overrides hold across reloads until cleared.
func (r *Router) Override(target model.DestKey, svc *model.ServiceKey, action health.Action) (int, error) {
	n, err := r.health.Override(target, svc, action)
	if err == nil {
		r.log.Info("real-server override", "target", target.String(), "action", action.String(), "matched", n)
	}
	return n, err
}

// HealthStatus is the health monitors', agents' and overrides' state.
type HealthStatus struct {
	Monitors  []health.MonitorStatus  `json:"monitors"`
	Agents    []health.AgentStatus    `json:"agents"`
	Overrides []health.OverrideStatus `json:"overrides"`
}

// Health describes real-server monitoring.
func (r *Router) Health() HealthStatus {
	return HealthStatus{Monitors: r.health.Status(), Agents: r.health.Agents(), Overrides: r.health.Overrides()}
}

// ResolveService finds a running virtual service by its lvs.cf name or by a
// key written tcp:VIP:PORT, udp:VIP:PORT or fwm:MARK (fwm:MARK:6 for an
// IPv6 mark service).
func (r *Router) ResolveService(spec string) (model.ServiceKey, error) {
	cfg := r.cfg.Load()
	for i := range cfg.Services {
		if cfg.Services[i].Name == spec && cfg.Services[i].Active {
			return cfg.Services[i].Key(), nil
		}
	}
	k, err := model.ParseServiceKey(spec)
	if err != nil {
		return model.ServiceKey{}, fmt.Errorf("no virtual service named %q, and %v", spec, err)
	}
	if r.table.Service(k) == nil {
		return model.ServiceKey{}, fmt.Errorf("no virtual service %s is running", k)
	}
	return k, nil
}

// Close stops the router, letting open connections finish for up to drain.
func (r *Router) Close(drain time.Duration) error {
	r.log.Info("stopping: no new connections; draining", "open", r.table.ConnCount(), "drain", drain)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := r.plane.Close(ctx)
	r.log.Info("stopped", "left_open", r.table.ConnCount())
	return err
}

// Table returns the router's virtual server table.
func (r *Router) Table() *table.Table { return r.table }

// Config returns the running configuration.
func (r *Router) Config() *model.Config { return r.cfg.Load() }

// Snapshot copies the table.
func (r *Router) Snapshot() table.Snapshot { return r.table.Snapshot() }

// Conns lists connection entries and templates.
func (r *Router) Conns() []table.ConnStatus {
	if cl, ok := r.plane.(dataplane.ConnLister); ok {
		cs, err := cl.Conns()
		if err == nil {
			return cs
		}
		r.log.Warn("listing the data plane's connections", "error", err.Error())
	}
	return r.table.ConnSnapshot()
}

// Redundancy describes the router's role in its VRRP pair; a router
// without backup_active is simply active.
func (r *Router) Redundancy() RedundancyStatus {
	if r.red == nil {
		return RedundancyStatus{Role: RoleActive}
	}
	return r.red.status()
}

// Status describes the router.
func (r *Router) Status() Status {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	if sb, ok := r.plane.(dataplane.SocketBudget); ok {
		s := sb.Sockets()
		st.Sockets = &s
	}
	st.Redundancy = r.Redundancy()
	st.Role = st.Redundancy.Role
	if st.Role == "" {
		st.Role = RoleActive
	}
	return st
}

// Zero zeroes the counters and rates of the service spec names (by
// ResolveService), or of every service for "", on the table and on a
// plane that keeps counters of its own: ipvsadm -Z. It returns the
// services zeroed.
func (r *Router) Zero(spec string) ([]model.ServiceKey, error) {
	var k *model.ServiceKey
	if spec != "" {
		key, err := r.ResolveService(spec)
		if err != nil {
			return nil, err
		}
		k = &key
	}
	// The plane's own counters first: a mirror of them into the table
	// between the two then copies zeros.
	if z, ok := r.plane.(dataplane.Zeroer); ok {
		var keys []model.ServiceKey
		for _, s := range r.table.Services() {
			if k == nil || s.Key() == *k {
				keys = append(keys, s.Key())
			}
		}
		if err := z.Zero(keys); err != nil {
			return nil, err
		}
	}
	keys := r.table.Zero(k)
	r.log.Info("counters zeroed", "services", len(keys), "service", spec)
	return keys, nil
}
