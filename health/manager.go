package health

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
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

// monState is a monitor's verdict.
type monState uint8

const (
	monUnknown monState = iota // no result yet: the server is presumed up
	monUp
	monDown
)

var monStateNames = [...]string{"unknown", "up", "down"}

func (s monState) String() string { return monStateNames[s] }

// monitorKey identifies a monitor: services naming the same address and
// check port with the same check share it.
type monitorKey struct {
	addr netip.Addr
	port uint16
	def  *checkDef
}

func (k monitorKey) target() string { return netip.AddrPortFrom(k.addr, k.port).String() }

func (mon *monitor) spec() *probeSpec { return &mon.key.def.spec }

// monitor probes one target and holds its verdict. All fields but probe
// are guarded by Manager.mu.
type monitor struct {
	key   monitorKey
	probe prober
	binds []*binding // usually one or two

	state            monState
	reason           string
	since            time.Time
	okRun, failRun   int
	checks, failures uint64
	lastCheck        time.Time
	lastOK           bool
	lastErr          string
	latency          time.Duration
	// localErrors counts checks that could not run for a reason of this
	// host's (localFailure); localLogged is when one was last logged.
	localErrors uint64
	localLogged time.Time

	timer    *time.Timer
	due      time.Time
	inflight bool
	stopped  bool
}

// agent polls one load agent. Guarded by Manager.mu.
type agent struct {
	spec  agentSpec
	binds map[bindKey]*binding

	state     agentState
	pct       int // -1: no percentage received
	desc      string
	lastPoll  time.Time
	lastOK    bool
	lastErr   string
	lastReply string
	errLogged bool

	timer    *time.Timer
	inflight bool
	stopped  bool
}

func (a *agent) target() string { return netip.AddrPortFrom(a.spec.addr, a.spec.port).String() }

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

// pushAll pushes every binding selected by sel, reading each service's
// destinations once.
func (m *Manager) pushAll(sel func(bindKey) bool, why string) int {
	bySvc := map[model.ServiceKey][]*binding{}
	for k, b := range m.binds {
		if sel(k) {
			bySvc[b.key.svc] = append(bySvc[b.key.svc], b)
		}
	}
	n := 0
	for sk, list := range bySvc {
		svc := m.t.Service(sk)
		if svc == nil {
			continue
		}
		dests := map[model.DestKey]*table.Dest{}
		for _, d := range svc.Dests() {
			dests[d.Key()] = d
		}
		for _, b := range list {
			if d := dests[b.key.dest]; d != nil {
				m.pushTo(svc, d, b, why)
				n++
			}
		}
	}
	return n
}

// push applies b's desired state and weight to the table.
func (m *Manager) push(b *binding, why string) {
	svc := m.t.Service(b.key.svc)
	if svc == nil {
		return
	}
	if d := svc.Dest(b.key.dest); d != nil {
		m.pushTo(svc, d, b, why)
	}
}

// pushTo changes the table only where it differs from what b should be,
// so a check that confirms the current state costs no table work. The
// weight is set before a server comes up so that it never takes
// connections at its full weight during slow start.
func (m *Manager) pushTo(svc *table.Service, d *table.Dest, b *binding, why string) {
	st, w, reason := m.desired(b, why)
	k := b.key.dest
	if st == table.StateUp {
		if d.State() != table.StateUp {
			svc.SetWeight(k, w)
			svc.SetState(k, table.StateUp, reason)
		} else if d.Weight() != w {
			svc.SetWeight(k, w)
		}
		return
	}
	if d.State() != st {
		svc.SetState(k, st, reason)
	}
}

// desired combines override, health and agent into b's table state, weight
// and the reason to record. Precedence: operator override, then a failed
// health check, then the agent's state; the weight is the configured
// weight scaled by the agent's percentage and capped by slow start. why
// names the event that brings a server up, when there is one.
func (m *Manager) desired(b *binding, why string) (table.State, int, string) {
	if ov := m.overrideFor(b.key); ov != nil {
		switch ov.action {
		case Disable:
			return table.StateDisabled, 0, "disabled by operator"
		case Drain:
			return table.StateDraining, 0, "drained by operator"
		case Enable:
			return table.StateUp, b.spec.weight, "enabled by operator"
		}
	}
	failed := table.StateDown
	if b.spec.quiesce {
		failed = table.StateQuiesced
	}
	if !b.healthUp {
		return failed, 0, b.healthReason
	}
	if a := b.agent; a != nil {
		switch a.state {
		case agentDown, agentMaint:
			st := table.StateDown
			if a.state == agentDown {
				st = failed
			}
			return st, 0, a.describe()
		case agentDrain:
			return table.StateDraining, 0, a.describe()
		}
	}
	w := b.targetWeight()
	if b.ramp > 0 && b.ramp < w {
		w = b.ramp
	}
	if why == "" {
		why = b.healthReason
	}
	if why == "" {
		why = "healthy"
	}
	return table.StateUp, w, why
}

// targetWeight is the configured weight scaled by the agent's percentage.
func (b *binding) targetWeight() int {
	w := b.spec.weight
	if a := b.agent; a != nil && a.pct >= 0 {
		scaled := (int64(w)*int64(a.pct) + 50) / 100
		if scaled == 0 && w > 0 && a.pct > 0 {
			scaled = 1
		}
		w = int(min(scaled, 65535))
	}
	return w
}

func (a *agent) describe() string {
	s := "agent: " + a.state.String()
	if a.pct >= 0 {
		s += fmt.Sprintf(" %d%%", a.pct)
	}
	if a.desc != "" {
		s += " (" + a.desc + ")"
	}
	return s
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

// startMonitor runs mon's first check now. Called with m.mu held while
// running.
func (m *Manager) startMonitor(mon *monitor) {
	mon.due = time.Now()
	mon.timer = time.AfterFunc(0, func() { m.runCheck(mon) })
}

// stopMonitor stops mon's timer. A check in flight runs to its deadline
// and its result is dropped: cancelling it would cost every check a
// context of its own.
func (m *Manager) stopMonitor(mon *monitor) {
	mon.stopped = true
	if mon.timer != nil {
		mon.timer.Stop()
	}
}

// nextDue spreads checks: the second check of a monitor lands at a random
// point between half and one and a half intervals after the first, so
// monitors started together (10,000 at start-up) take random phases; later
// checks follow every interval with ±5% jitter so that phases keep
// drifting apart instead of locking together.
func (m *Manager) nextDue(prev time.Time, iv time.Duration, first bool) time.Time {
	var next time.Time
	if first {
		next = prev.Add(iv/2 + time.Duration(m.rand()*float64(iv)))
	} else {
		next = prev.Add(iv + time.Duration((m.rand()-0.5)*float64(iv)/10))
	}
	// Round up to a grid of a hundredth of the interval (1 to 10 ms), so
	// that the runtime wakes once per grid step for a batch of checks
	// rather than once per check.
	// The grid counts from the Manager's creation on the monotonic clock,
	// so that a step of the wall clock does not stall or rush the checks.
	q := min(max(iv/100, time.Millisecond), 10*time.Millisecond)
	off := next.Sub(m.epoch)
	next = m.epoch.Add((off + q - 1) / q * q)
	if now := time.Now(); next.Before(now) {
		next = now
	}
	return next
}

// runCheck is a monitor's timer callback: one check, its verdict, and the
// next timer. Checks are paced start to start, so a check that times out
// (it takes the whole interval, as nanny's did) is followed at once by the
// next one.
func (m *Manager) runCheck(mon *monitor) {
	m.mu.Lock()
	if mon.stopped || !m.running || mon.inflight {
		m.mu.Unlock()
		return
	}
	iv := mon.spec().interval
	ctx := m.ctx
	mon.inflight = true
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()

	start := time.Now()
	err := mon.probe.check(ctx, start.Add(iv))
	latency := time.Since(start)

	m.mu.Lock()
	defer m.mu.Unlock()
	mon.inflight = false
	if mon.stopped || !m.running || ctx.Err() != nil {
		return // a reload removed the monitor, or shutdown: not a verdict
	}
	m.record(mon, err, latency)
	mon.due = m.nextDue(mon.due, iv, mon.checks == 1)
	mon.timer.Reset(max(0, time.Until(mon.due)))
}

// record applies one check result to mon's state machine (nanny's, with
// rise and fall): a failure while up counts towards fall (1 by default); a
// success while down counts towards rise (reentry / timeout by default).
// The first result decides at once, since no check vouched for the server
// before it.
func (m *Manager) record(mon *monitor, err error, latency time.Duration) {
	mon.checks++
	mon.lastCheck = m.clock.Now()
	mon.latency = latency
	if err != nil && localFailure(err) {
		// The check could not run here: no verdict on the server.
		mon.localErrors++
		mon.lastErr = "could not check: " + err.Error()
		if m.clock.Now().Sub(mon.localLogged) >= localLogEvery {
			m.log.Warn("health check could not run; the server's state stays", "target", mon.key.target(),
				"error", err.Error(), "local_errors", mon.localErrors)
			mon.localLogged = m.clock.Now()
		}
		return
	}
	sp := mon.spec()
	if err == nil {
		mon.lastOK = true
		mon.okRun++
		mon.failRun = 0
		switch {
		case mon.state == monUnknown:
			m.transition(mon, monUp, "check passed")
		case mon.state == monDown && mon.okRun >= sp.rise:
			reason := "check passed"
			if sp.rise > 1 {
				reason = fmt.Sprintf("check passed %d times in a row", mon.okRun)
			}
			m.transition(mon, monUp, reason)
		}
		return
	}
	mon.failures++
	mon.lastOK = false
	mon.lastErr = err.Error()
	mon.failRun++
	mon.okRun = 0
	switch {
	case mon.state == monUnknown:
		m.transition(mon, monDown, err.Error())
	case mon.state == monUp && mon.failRun >= sp.fall:
		reason := err.Error()
		if sp.fall > 1 {
			reason = fmt.Sprintf("%s (%d checks in a row)", reason, mon.failRun)
		}
		m.transition(mon, monDown, reason)
	}
}

// localLogEvery spaces the log lines of checks that could not run.
const localLogEvery = 10 * time.Second

// localFailure reports whether a check failed for a reason of this host's,
// not the real server's: no descriptor or buffer left, no local address or
// port to send from, no route in the local table. Such a result says
// nothing of the server, and moving it down for it (while the router is
// short of descriptors under a flood, say) would take healthy servers out.
// A host-unreachable is the server's: it is what an absent neighbour gives.
func localFailure(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.EADDRNOTAVAIL, syscall.ENETUNREACH} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// transition moves mon to st, logs it once for all its services, and
// pushes the result to each of them.
func (m *Manager) transition(mon *monitor, st monState, reason string) {
	prev := mon.state
	mon.state, mon.reason, mon.since = st, reason, m.clock.Now()
	changed := prev != monUnknown || st == monDown
	for _, b := range mon.binds {
		if b.healthUp != (st == monUp) {
			changed = true
		}
		m.adoptVerdict(b, st == monUp, reason)
	}
	if changed {
		line := mon.key.target() + " " + st.String() + ": " + reason
		args := []any{"server", mon.key.target(), "state", st.String(), "reason", reason,
			"check", mon.key.def.desc, "services", len(mon.binds)}
		if st == monDown {
			m.log.Warn(line, args...)
		} else {
			m.log.Info(line, args...)
		}
	}
	why := ""
	if st == monUp {
		why = reason
	}
	for _, b := range mon.binds {
		m.push(b, why)
	}
}

// startRamp begins nanny's slow start for b: from max(1, weight/32),
// doubling each step until the target weight. The step is slowstart
// divided by the number of doublings, or about 20 s (nanny's adjustWeight
// period) when slowstart is unset; slowstart = 0 turns it off.
func (m *Manager) startRamp(b *binding) {
	m.stopRamp(b)
	target := b.targetWeight()
	if b.spec.slowstart == 0 || target <= 1 || !m.running {
		return
	}
	w0 := max(1, target>>5)
	n := 0
	for w := w0; w < target; w <<= 1 {
		n++
	}
	step := DefaultRampStep
	if b.mon != nil && b.mon.spec().interval > step {
		step = b.mon.spec().interval
	}
	if b.spec.slowstart > 0 {
		step = b.spec.slowstart / time.Duration(n)
	}
	b.ramp, b.rampStep = w0, step
	gen := b.rampGen
	b.rampT = time.AfterFunc(step, func() { m.rampTick(b, gen) })
}

func (m *Manager) stopRamp(b *binding) {
	b.rampGen++
	b.ramp = 0
	if b.rampT != nil {
		b.rampT.Stop()
		b.rampT = nil
	}
}

func (m *Manager) rampTick(b *binding, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != b.rampGen || b.removed || !m.running {
		return
	}
	b.ramp *= 2
	if b.ramp >= b.targetWeight() {
		b.ramp, b.rampT = 0, nil
	} else {
		b.rampT.Reset(b.rampStep)
	}
	m.push(b, "")
}

// startAgent polls a's agent now. Called with m.mu held while running.
func (m *Manager) startAgent(a *agent) {
	a.timer = time.AfterFunc(0, func() { m.runAgent(a) })
}

func (m *Manager) runAgent(a *agent) {
	m.mu.Lock()
	if a.stopped || !m.running || a.inflight {
		m.mu.Unlock()
		return
	}
	iv := a.spec.interval
	ctx := m.ctx
	a.inflight = true
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()

	start := time.Now()
	reply, err := pollAgent(ctx, m.env, a.spec, start.Add(iv))

	m.mu.Lock()
	defer m.mu.Unlock()
	a.inflight = false
	if a.stopped || !m.running || ctx.Err() != nil {
		return
	}
	a.lastPoll = m.clock.Now()
	if err != nil {
		// An unreachable agent changes nothing (as in HAProxy): the health
		// check decides availability, the agent only refines it.
		a.lastOK, a.lastErr = false, err.Error()
		if !a.errLogged {
			a.errLogged = true
			m.log.Warn(a.target()+" agent unreachable: "+err.Error(), "agent", a.target())
		}
	} else {
		a.lastOK, a.errLogged = true, false
		a.lastReply = reply.raw
		changed := false
		if reply.state != agentNone && reply.state != a.state {
			a.state, changed = reply.state, true
		}
		if reply.pct >= 0 && reply.pct != a.pct {
			a.pct, changed = reply.pct, true
		}
		a.desc = reply.desc
		if changed {
			m.log.Info(a.target()+" "+a.describe(), "agent", a.target(), "services", len(a.binds))
			for _, b := range a.binds {
				m.push(b, a.describe())
			}
		}
	}
	next := iv - time.Since(start) + time.Duration((m.rand()-0.5)*float64(iv)/10)
	a.timer.Reset(max(0, next))
}
