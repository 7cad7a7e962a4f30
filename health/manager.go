package health

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Options configure a Manager. The zero value is usable.
type Options struct {
	// Logger receives one line per state change, with its reason; nothing
	// is logged if nil.
	Logger *slog.Logger
	// Clock stamps status times (last check, since, override set). It does
	// not pace the checks, which run on the runtime's timers. The table's
	// clock if nil.
	Clock clock.Clock
	// Dial opens the connections of every check and agent poll. If nil,
	// TCP goes through a lean dialer of this package (on Linux) and other
	// networks through net.Dialer. A router that must check from a given source
	// address or through a tunnel hooks in here.
	Dial DialFunc
	// RootCAs verifies HTTPS servers of checks with check_tls_verify = 1;
	// the system's roots if nil.
	RootCAs *x509.CertPool
	// Rand returns a number in [0, 1) to spread checks over their
	// interval; math/rand/v2 if nil.
	Rand func() float64
}

// bindKey is one real server of one service.
type bindKey struct {
	svc  model.ServiceKey
	dest model.DestKey
}

// binding ties a (service, real server) pair to its monitor and agent and
// carries what is per service: weight, quiesce, slow start. Guarded by
// Manager.mu.
type binding struct {
	key   bindKey
	spec  bindSpec
	mon   *monitor
	agent *agent

	// healthUp is the last health verdict that concerned this pair: true
	// until a check fails, and kept while a replacement monitor (after a
	// check definition changed) has no result yet.
	healthUp     bool
	healthReason string

	ramp     int // slow-start weight cap; 0 when not ramping
	rampStep time.Duration
	rampGen  uint64
	rampT    *time.Timer
	removed  bool
}

// Manager runs the monitors of a table's real servers and applies their
// results. Its methods are safe for concurrent use.
type Manager struct {
	t     *table.Table
	log   *slog.Logger
	clock clock.Clock
	env   probeEnv
	rand  func() float64

	mu        sync.Mutex
	monitors  map[monitorKey]*monitor
	defs      map[probeSpec]*checkDef
	agents    map[agentSpec]*agent
	binds     map[bindKey]*binding
	overrides []*override
	seq       uint64
	running   bool
	ran       bool
	ctx       context.Context
	wg        sync.WaitGroup
	noted     map[string]bool // configuration warnings already logged
	epoch     time.Time       // origin of the check timer grid
}

// New returns a Manager that drives t's real servers. Call Apply with the
// configuration t was applied with, and Run.
func New(t *table.Table, o Options) *Manager {
	m := &Manager{t: t, log: o.Logger, clock: o.Clock, rand: o.Rand,
		monitors: map[monitorKey]*monitor{}, defs: map[probeSpec]*checkDef{}, agents: map[agentSpec]*agent{},
		binds: map[bindKey]*binding{}, noted: map[string]bool{}, epoch: time.Now()}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.clock == nil {
		m.clock = t.Clock()
	}
	if m.rand == nil {
		m.rand = rand.Float64
	}
	m.env = probeEnv{dial: o.Dial, rootCAs: o.RootCAs}
	return m
}

// Apply brings the monitors in line with cfg, which the router has just
// applied to the table. Monitors whose (target, check) pair is still named
// keep running untouched, with their state and counters; new pairs get a
// monitor whose first check runs at once; pairs no longer named are
// stopped. The current health, agent and override state is then pushed to
// every real server whose table entry disagrees, which covers services the
// reload added or changed (a new service starts with every server up; a
// changed weight resets the table's weight).
func (m *Manager) Apply(cfg *model.Config) {
	want := map[bindKey]bindSpec{}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if !s.Active {
			continue
		}
		if lm := strings.ToLower(strings.TrimSpace(s.Check.LoadMonitor)); lm != "" && lm != "none" {
			m.noteOnce("load_monitor", "load_monitor is ignored: rup, ruptime and rsh uptime polling are obsolete; set agent_port for load-driven weights",
				"service", s.Name, "load_monitor", s.Check.LoadMonitor)
		}
		for _, rs := range s.RealServers {
			if !rs.Active {
				continue
			}
			sp := buildSpec(s, rs)
			for _, p := range sp.problems {
				m.noteOnce(s.Name+"\x00"+p, "health check configuration: "+p, "service", s.Name)
			}
			if sp.probe.kind == kindUDP && sp.probe.send == "" && sp.probe.expect == "" {
				m.noteOnce(s.Name+"\x00udp", "UDP check with neither send nor expect: each check sends an empty datagram and needs an answer; set send/expect, check_type = dns or send_program",
					"service", s.Name)
			}
			want[bindKey{sp.svc, sp.dest}] = sp
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for k, b := range m.binds {
		if _, ok := want[k]; !ok {
			m.unbind(b)
			delete(m.binds, k)
		}
	}
	for k, sp := range want {
		b := m.binds[k]
		if b == nil {
			b = &binding{key: k, healthUp: true}
			m.binds[k] = b
		}
		b.spec = sp
		m.attachMonitor(b)
		m.attachAgent(b)
	}
	m.pushAll(func(bindKey) bool { return true }, "")
}

// noteOnce logs a configuration warning the first time it is seen.
func (m *Manager) noteOnce(key, msg string, args ...any) {
	m.mu.Lock()
	seen := m.noted[key]
	m.noted[key] = true
	m.mu.Unlock()
	if !seen {
		m.log.Warn(msg, args...)
	}
}

// attachMonitor moves b to the monitor its spec asks for.
func (m *Manager) attachMonitor(b *binding) {
	sp := b.spec
	if sp.probe.kind == kindNone {
		m.detachMonitor(b)
		if !b.healthUp {
			b.healthUp, b.healthReason = true, "monitoring off (check_type = none)"
		}
		return
	}
	def := m.defs[*sp.probe]
	mk := monitorKey{addr: sp.addr, port: sp.port, def: def}
	if def != nil && b.mon != nil && b.mon.key == mk {
		b.spec.probe = &def.spec
		return
	}
	m.detachMonitor(b)
	if def == nil {
		def = &checkDef{spec: *sp.probe, desc: sp.probe.describe(), id: defID(sp.probe)}
		m.defs[def.spec] = def
		mk.def = def
	}
	b.spec.probe = &def.spec
	mon := m.monitors[mk]
	if mon == nil {
		def.refs++
		mon = &monitor{key: mk, probe: newProber(&def.spec, mk.addr, mk.port, m.env), since: m.clock.Now()}
		m.monitors[mk] = mon
		if m.running {
			m.startMonitor(mon)
		}
	}
	mon.binds = append(mon.binds, b)
	b.mon = mon
	if mon.state != monUnknown {
		m.adoptVerdict(b, mon.state == monUp, mon.reason)
	}
}

func (m *Manager) detachMonitor(b *binding) {
	mon := b.mon
	if mon == nil {
		return
	}
	b.mon = nil
	if i := slices.Index(mon.binds, b); i >= 0 {
		mon.binds = slices.Delete(mon.binds, i, i+1)
	}
	if len(mon.binds) == 0 {
		m.stopMonitor(mon)
		delete(m.monitors, mon.key)
		def := mon.key.def
		def.refs--
		if def.refs == 0 {
			delete(m.defs, def.spec)
		}
	}
}

// attachAgent moves b to the agent its spec asks for, if any.
func (m *Manager) attachAgent(b *binding) {
	if b.spec.agent == nil {
		m.detachAgent(b)
		return
	}
	ak := *b.spec.agent
	if b.agent != nil && b.agent.spec == ak {
		return
	}
	m.detachAgent(b)
	a := m.agents[ak]
	if a == nil {
		a = &agent{spec: ak, binds: map[bindKey]*binding{}, pct: -1}
		m.agents[ak] = a
		if m.running {
			m.startAgent(a)
		}
	}
	a.binds[b.key] = b
	b.agent = a
}

func (m *Manager) detachAgent(b *binding) {
	a := b.agent
	if a == nil {
		return
	}
	b.agent = nil
	delete(a.binds, b.key)
	if len(a.binds) == 0 {
		a.stopped = true
		if a.timer != nil {
			a.timer.Stop()
		}
		delete(m.agents, a.spec)
	}
}

// unbind forgets a pair that left the configuration. Its table entry is
// gone already (the table retired it), so nothing is pushed.
func (m *Manager) unbind(b *binding) {
	b.removed = true
	m.stopRamp(b)
	m.detachMonitor(b)
	m.detachAgent(b)
}

// adoptVerdict records a health verdict for b, starting slow start when it
// returns from failure.
func (m *Manager) adoptVerdict(b *binding, up bool, reason string) {
	was := b.healthUp
	b.healthUp, b.healthReason = up, reason
	switch {
	case up && !was:
		m.startRamp(b)
	case !up:
		m.stopRamp(b)
	}
}

// Run runs the monitors until ctx is done, then stops them and waits for
// the checks in flight. Monitors that Apply created before Run start with
// it. Run may be called once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ran {
		m.mu.Unlock()
		return errors.New("health: Run called twice")
	}
	// Checks in flight watch this context: cancelling it at shutdown
	// interrupts them at once.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.ran, m.running, m.ctx = true, true, runCtx
	for _, mon := range m.monitors {
		m.startMonitor(mon)
	}
	for _, a := range m.agents {
		m.startAgent(a)
	}
	m.mu.Unlock()

	<-ctx.Done()

	m.mu.Lock()
	m.running = false
	for _, mon := range m.monitors {
		if mon.timer != nil {
			mon.timer.Stop()
		}
	}
	for _, a := range m.agents {
		if a.timer != nil {
			a.timer.Stop()
		}
	}
	for _, b := range m.binds {
		if b.rampT != nil {
			b.rampT.Stop()
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}
