package health

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"
)

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
	latencies        Latencies
	// localErrors counts checks that could not run for a reason of this
	// host's (localFailure); localLogged is when one was last logged.
	localErrors uint64
	localLogged time.Time

	timer    *time.Timer
	due      time.Time
	inflight bool
	stopped  bool
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
	mon.latencies.observe(latency)
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
