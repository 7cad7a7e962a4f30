package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// State is a VRRP router's state (RFC 5798 §6.4), plus Fault for a router
// that gave up because its own link is down.
type State int

// The states. Initialize is also where a stopped router rests.
const (
	Initialize State = iota
	Backup
	Master
	Fault
)

// String names the state as RFC 5798 does.
func (s State) String() string {
	switch s {
	case Backup:
		return "backup"
	case Master:
		return "master"
	case Fault:
		return "fault"
	}
	return "initialize"
}

// Config is one virtual router's settings.
type Config struct {
	// VRID is the virtual router id, 1-255.
	VRID uint8
	// Priority is this router's priority, 1-255; 255 means it owns the
	// addresses and becomes master at once.
	Priority uint8
	// Interval is the advertisement interval.
	Interval time.Duration
	// DownInterval, when set, replaces the three advertisement intervals
	// a backup waits before declaring the master dead; skew is added to it
	// either way. It carries lvs.cf's deadtime.
	DownInterval time.Duration
	// Preempt lets this router, as a backup, ignore adverts of a
	// lower-priority master so that it takes over.
	Preempt bool
	// Addrs are the virtual addresses announced, of Local's family.
	Addrs []netip.Addr
	// Local is the address adverts are sent from; it breaks ties of equal
	// priority (the higher address wins) and identifies our own adverts.
	Local netip.Addr
	// Peers, when not empty, are the only routers whose adverts count, and
	// the unicast destinations of ours.
	Peers []netip.Addr
}

// Skew is Skew_Time for this router's priority under the master's
// advertisement interval: a higher priority waits less, so that after a
// master's death the best backup speaks first.
func (c *Config) Skew(masterAdver time.Duration) time.Duration {
	return time.Duration(256-int(c.Priority)) * masterAdver / 256
}

// MasterDown is Master_Down_Interval for the master's advertisement
// interval. DownInterval was chosen against this router's own interval; a
// master that advertises at another (RFC 5798 §6.4.2 has the backup adopt
// it) scales it alike, so that routers with different keepalive settings
// never declare each other dead between two adverts.
func (c *Config) MasterDown(masterAdver time.Duration) time.Duration {
	wait := 3 * masterAdver
	if c.DownInterval > 0 {
		wait = c.DownInterval
		if c.Interval > 0 && masterAdver != c.Interval {
			wait = time.Duration(int64(c.DownInterval) * int64(masterAdver) / int64(c.Interval))
		}
	}
	return wait + c.Skew(masterAdver)
}

// Hooks are how a Machine acts on the world, all called synchronously from
// the call that caused them. Nil hooks do nothing.
type Hooks struct {
	// Send transmits an advert.
	Send func(*Advert)
	// Change reports a state change and why, in words for the log.
	Change func(from, to State, why string)
	// Reannounce asks the master to announce its addresses again: it met
	// another master and stayed, and the LAN may have followed the other.
	Reannounce func(why string)
}

// Machine is the VRRPv3 state machine of one virtual router. It does no
// I/O and reads no clock: every call carries the time, adverts to send go
// to the send function and state changes to the change function, both
// called synchronously. That keeps elections and timing testable to the
// nanosecond. It is not safe for concurrent use.
type Machine struct {
	cfg Config
	h   Hooks

	state       State
	masterAdver time.Duration
	downAt      time.Time
	adverAt     time.Time
	// backupSince is when the machine last became backup, for a takeover
	// with no master ever heard.
	backupSince time.Time

	master       netip.Addr
	masterSeen   time.Time // the current master's last advert
	resigned     netip.Addr
	lower        netip.Addr // a lower-priority master we preempt
	lowerPrio    uint8
	lastAdvert   time.Time
	lastFrom     netip.Addr
	lastPriority uint8
}

// NewMachine returns a machine in Initialize.
func NewMachine(cfg Config, h Hooks) *Machine {
	if h.Send == nil {
		h.Send = func(*Advert) {}
	}
	if h.Change == nil {
		h.Change = func(State, State, string) {}
	}
	if h.Reannounce == nil {
		h.Reannounce = func(string) {}
	}
	return &Machine{cfg: cfg, h: h, masterAdver: cfg.Interval}
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Config returns the machine's configuration.
func (m *Machine) Config() Config { return m.cfg }

// Master returns the address of the current master as last seen; our own
// address when we are master, invalid when unknown.
func (m *Machine) Master() netip.Addr { return m.master }

// LastAdvert returns when the last accepted advert arrived, its sender and
// its priority.
func (m *Machine) LastAdvert() (time.Time, netip.Addr, uint8) {
	return m.lastAdvert, m.lastFrom, m.lastPriority
}

// Next returns when Expire must next be called; zero if no timer runs.
func (m *Machine) Next() time.Time {
	switch m.state {
	case Backup:
		return m.downAt
	case Master:
		return m.adverAt
	}
	return time.Time{}
}

func (m *Machine) to(s State, why string) {
	from := m.state
	m.state = s
	if from != s {
		m.h.Change(from, s, why)
	}
}

func (m *Machine) advert(prio uint8) {
	m.h.Send(&Advert{VRID: m.cfg.VRID, Priority: prio, Interval: m.cfg.Interval, Addrs: m.cfg.Addrs})
}

func (m *Machine) becomeMaster(now time.Time, why string) {
	m.advert(m.cfg.Priority)
	m.adverAt = now.Add(m.cfg.Interval)
	m.master = m.cfg.Local
	m.to(Master, why)
}

func (m *Machine) becomeBackup(now time.Time, why string) {
	m.downAt = now.Add(m.cfg.MasterDown(m.masterAdver))
	m.backupSince = now
	m.resigned, m.lower = netip.Addr{}, netip.Addr{}
	m.to(Backup, why)
}

// takeoverReason says, for the log, why a backup's timer ran out.
func (m *Machine) takeoverReason(now time.Time) string {
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	switch {
	case m.resigned.IsValid():
		return fmt.Sprintf("%s resigned (priority 0 advert)", m.resigned)
	case m.lower.IsValid():
		return fmt.Sprintf("preempting %s (priority %d < %d)", m.lower, m.lowerPrio, m.cfg.Priority)
	case m.master.IsValid():
		return fmt.Sprintf("no advert from %s for %s", m.master, ms(now.Sub(m.masterSeen)))
	}
	return fmt.Sprintf("no advert for %s after becoming backup", ms(now.Sub(m.backupSince)))
}

// beats reports whether an advert of priority prio from src wins over us:
// a higher priority, or the same from a higher address (RFC 5798 §6.4.3).
func (m *Machine) beats(prio uint8, src netip.Addr) bool {
	return prio > m.cfg.Priority || prio == m.cfg.Priority && src.Compare(m.cfg.Local) > 0
}

// versus describes an election between src's priority and ours.
func (m *Machine) versus(prio uint8, src netip.Addr) string {
	switch {
	case prio > m.cfg.Priority:
		return fmt.Sprintf("priority %d > %d", prio, m.cfg.Priority)
	case prio < m.cfg.Priority:
		return fmt.Sprintf("priority %d < %d", prio, m.cfg.Priority)
	case src.Compare(m.cfg.Local) > 0:
		return fmt.Sprintf("priority %d = %d, address %s > %s", prio, m.cfg.Priority, src, m.cfg.Local)
	}
	return fmt.Sprintf("priority %d = %d, address %s < %s", prio, m.cfg.Priority, src, m.cfg.Local)
}

// Start leaves Initialize (a no-op in any other state): the address owner
// becomes master at once, anyone else backup.
func (m *Machine) Start(now time.Time) {
	if m.state != Initialize {
		return
	}
	m.masterAdver = m.cfg.Interval
	if m.cfg.Priority == 255 {
		m.becomeMaster(now, "address owner (priority 255)")
		return
	}
	m.master = netip.Addr{}
	m.becomeBackup(now, "startup")
}

// Expire runs the timers due at now.
func (m *Machine) Expire(now time.Time) {
	switch m.state {
	case Backup:
		if !now.Before(m.downAt) {
			m.becomeMaster(now, m.takeoverReason(now))
		}
	case Master:
		if !now.Before(m.adverAt) {
			m.advert(m.cfg.Priority)
			m.adverAt = now.Add(m.cfg.Interval)
		}
	}
}

// Verdict says what became of a received advert.
type Verdict int

// Verdicts. Only Accepted adverts count as "seen".
const (
	Accepted Verdict = iota
	WrongTTL
	WrongVRID
	NotAPeer
	Own
)

// String describes the verdict for logs.
func (v Verdict) String() string {
	switch v {
	case WrongTTL:
		return "TTL or hop limit is not 255 (sent from off-link?)"
	case WrongVRID:
		return "another virtual router id"
	case NotAPeer:
		return "sender is not a configured peer"
	case Own:
		return "our own advert"
	}
	return "accepted"
}

// Receive handles an advert from src that arrived with the given TTL (hop
// limit for IPv6).
func (m *Machine) Receive(now time.Time, src netip.Addr, ttl int, a *Advert) Verdict {
	src = src.Unmap()
	switch {
	case ttl != 255 && len(m.cfg.Peers) == 0:
		// RFC 5798 §7.1: a router more than one hop away forged it. With
		// unicast peers the configured addresses are the check instead,
		// as in keepalived, which sends IPv6 unicast adverts with the
		// default hop limit (64) and accepts any.
		return WrongTTL
	case a.VRID != m.cfg.VRID:
		return WrongVRID
	case src == m.cfg.Local:
		return Own
	case len(m.cfg.Peers) > 0 && !slices.Contains(m.cfg.Peers, src):
		return NotAPeer
	}
	m.lastAdvert, m.lastFrom, m.lastPriority = now, src, a.Priority
	switch m.state {
	case Backup:
		switch {
		case a.Priority == 0:
			// The master is leaving: take over after skew, not the full
			// down interval.
			m.downAt = now.Add(m.cfg.Skew(m.masterAdver))
			m.master, m.resigned, m.lower = netip.Addr{}, src, netip.Addr{}
		case !m.cfg.Preempt || a.Priority >= m.cfg.Priority:
			m.adopt(a.Interval)
			m.downAt = now.Add(m.cfg.MasterDown(m.masterAdver))
			m.master, m.masterSeen, m.resigned, m.lower = src, now, netip.Addr{}, netip.Addr{}
		default:
			// A lower-priority master under preemption: let the down
			// timer run out and take over.
			m.lower, m.lowerPrio = src, a.Priority
		}
	case Master:
		switch {
		case a.Priority == 0:
			// Another master is leaving; make sure the backups hear us.
			m.advert(m.cfg.Priority)
			m.adverAt = now.Add(m.cfg.Interval)
		case m.beats(a.Priority, src):
			m.adopt(a.Interval)
			why := "advert from " + src.String() + " " + m.versus(a.Priority, src)
			m.master, m.masterSeen = src, now
			m.becomeBackup(now, why)
		default:
			// Two masters: the other one yields when it hears us, and
			// the LAN may have followed its announcements, so advertise
			// at once and announce again, as keepalived does, rather than
			// only discarding the advert as RFC 5798 §6.4.3 has it.
			m.advert(m.cfg.Priority)
			m.adverAt = now.Add(m.cfg.Interval)
			m.h.Reannounce(fmt.Sprintf("stayed master after clash with %s (%s): re-announced", src, m.versus(a.Priority, src)))
		}
	}
	return Accepted
}

// adopt takes the master's advertisement interval (RFC 5798 §6.4.2).
func (m *Machine) adopt(interval time.Duration) {
	m.masterAdver = interval
	if m.masterAdver <= 0 {
		m.masterAdver = m.cfg.Interval
	}
}

// Shutdown stops the router: a master says so with priority 0, so that a
// backup takes over after skew instead of the whole down interval.
func (m *Machine) Shutdown(now time.Time) {
	if m.state == Master {
		m.advert(0)
	}
	m.master = netip.Addr{}
	m.to(Initialize, "shutdown")
}

// SetFault moves the router to Fault while its link is down, and back
// through Initialize when it returns.
func (m *Machine) SetFault(now time.Time, fault bool) {
	switch {
	case fault && m.state != Fault:
		if m.state == Master {
			m.advert(0) // may not leave the host; harmless if not
		}
		m.master = netip.Addr{}
		m.to(Fault, "local link down")
	case !fault && m.state == Fault:
		m.state = Initialize
		m.Start(now)
	}
}
