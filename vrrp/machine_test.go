package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// sim runs machines on one simulated link in simulated time: adverts are
// delivered, in order and instantly, after the step that sent them.
type sim struct {
	t     *testing.T
	now   time.Time
	nodes []*node
	queue []delivery
	ttl   int
}

type node struct {
	name    string
	m       *Machine
	up      bool
	changes []string
	// whys are the reasons of the changes, as logged.
	whys []string
	// reannounced lists the clashes the node stayed master through.
	reannounced []string
	became      map[State]time.Time
	sent        []Advert
}

type delivery struct {
	from *node
	b    []byte
	dst  netip.Addr
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSim(t *testing.T) *sim { return &sim{t: t, now: t0, ttl: 255} }

func (s *sim) add(name string, cfg Config) *node {
	n := &node{name: name, became: map[State]time.Time{}}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.VRID == 0 {
		cfg.VRID = 51
	}
	n.m = NewMachine(cfg, Hooks{Send: func(a *Advert) {
		n.sent = append(n.sent, *a)
		b, err := a.Marshal(cfg.Local, GroupV4)
		if err != nil {
			s.t.Fatal(err)
		}
		s.queue = append(s.queue, delivery{n, b, GroupV4})
	}, Change: func(from, to State, why string) {
		n.changes = append(n.changes, to.String())
		n.whys = append(n.whys, why)
		n.became[to] = s.now
	}, Reannounce: func(why string) {
		n.reannounced = append(n.reannounced, why)
	}})
	s.nodes = append(s.nodes, n)
	return n
}

func (s *sim) start(n *node) {
	n.up = true
	n.m.Start(s.now)
	s.flush()
}

// boot adds a node, starts it and runs the simulation for d.
func (s *sim) boot(name string, cfg Config, d time.Duration) *node {
	n := s.add(name, cfg)
	s.start(n)
	s.run(d)
	return n
}

// bootPair adds a at addrA and b at addrB, starts them one right after
// the other, and runs the simulation for d.
func (s *sim) bootPair(ca, cb Config, d time.Duration) (a, b *node) {
	ca.Local, cb.Local = addrA, addrB
	a, b = s.add("a", ca), s.add("b", cb)
	s.start(a)
	s.start(b)
	s.run(d)
	return a, b
}

// kill silences a node without a goodbye, as SIGKILL does.
func (s *sim) kill(n *node) { n.up = false }

func (s *sim) flush() {
	for len(s.queue) > 0 {
		d := s.queue[0]
		s.queue = s.queue[1:]
		if !d.from.up {
			continue
		}
		src := d.from.m.Config().Local
		for _, o := range s.nodes {
			if o == d.from || !o.up {
				continue
			}
			a, err := Parse(d.b, src, d.dst)
			if err != nil {
				s.t.Fatal(err)
			}
			o.m.Receive(s.now, src, s.ttl, a)
		}
	}
}

// run advances time to until, firing timers in order.
func (s *sim) run(d time.Duration) {
	until := s.now.Add(d)
	for range 100000 {
		var next time.Time
		for _, n := range s.nodes {
			if nx := n.m.Next(); n.up && !nx.IsZero() && (next.IsZero() || nx.Before(next)) {
				next = nx
			}
		}
		if next.IsZero() || next.After(until) {
			s.now = until
			return
		}
		s.now = next
		for _, n := range s.nodes {
			if n.up {
				n.m.Expire(s.now)
			}
		}
		s.flush()
	}
	s.t.Fatal("simulation did not settle")
}

func (s *sim) masters() []string {
	var m []string
	for _, n := range s.nodes {
		if n.up && n.m.State() == Master {
			m = append(m, n.name)
		}
	}
	return m
}

func (s *sim) wantMaster(name string) {
	s.t.Helper()
	if m := s.masters(); len(m) != 1 || m[0] != name {
		s.t.Fatalf("masters at +%v: %v, want [%s]", s.now.Sub(t0), m, name)
	}
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
	addrC = netip.MustParseAddr("192.0.2.3")
)

func TestSimultaneousStartElectsHigherPriority(t *testing.T) {
	s := newSim(t)
	a, b := s.bootPair(Config{Priority: 150}, Config{Priority: 100}, 10*time.Second)
	s.wantMaster("a")
	// Master_Down_Interval = 3 s + (256-150)/256 s.
	if got, want := a.became[Master].Sub(t0), 3*time.Second+106*time.Second/256; got != want {
		t.Errorf("a became master after %v, want %v", got, want)
	}
	if len(b.changes) != 1 || b.changes[0] != "backup" {
		t.Errorf("b went through %v", b.changes)
	}
	if at, from, prio := b.m.LastAdvert(); from != addrA || prio != 150 || at.IsZero() || b.m.Master() != addrA {
		t.Errorf("b saw %v %v %d, master %v", at, from, prio, b.m.Master())
	}
}

func TestMasterDownTiming(t *testing.T) {
	s := newSim(t)
	a, b := s.bootPair(Config{Priority: 150, Interval: 100 * time.Millisecond}, Config{Priority: 100, Interval: 100 * time.Millisecond}, 2*time.Second)
	s.wantMaster("a")
	lastAdvert, _, _ := b.m.LastAdvert()
	s.kill(a)
	s.run(2 * time.Second)
	s.wantMaster("b")
	// 3 × 100 ms + (256-100) × 100 ms / 256 after the last advert.
	want := 300*time.Millisecond + 156*100*time.Millisecond/256
	if got := b.became[Master].Sub(lastAdvert); got != want {
		t.Errorf("b took over %v after the last advert, want %v", got, want)
	}
}

func TestDeadtimeOverridesDownInterval(t *testing.T) {
	s := newSim(t)
	a, b := s.bootPair(Config{Priority: 150}, Config{Priority: 100, DownInterval: 10 * time.Second}, 5*time.Second)
	last, _, _ := b.m.LastAdvert()
	s.kill(a)
	s.run(20 * time.Second)
	if got, want := b.became[Master].Sub(last), 10*time.Second+156*time.Second/256; got != want {
		t.Errorf("b took over %v after the last advert, want %v", got, want)
	}
}

func TestShutdownHandsOverAfterSkew(t *testing.T) {
	s := newSim(t)
	a, b := s.bootPair(Config{Priority: 150}, Config{Priority: 100}, 5*time.Second)
	stop := s.now
	a.m.Shutdown(s.now)
	s.flush()
	s.kill(a)
	if n := len(a.sent); a.sent[n-1].Priority != 0 {
		t.Fatalf("the last advert of a stopping master has priority %d", a.sent[n-1].Priority)
	}
	s.run(5 * time.Second)
	s.wantMaster("b")
	if got, want := b.became[Master].Sub(stop), 156*time.Second/256; got != want {
		t.Errorf("b took over %v after priority 0, want the skew %v", got, want)
	}
}

func TestPreemption(t *testing.T) {
	for _, preempt := range []bool{false, true} {
		s := newSim(t)
		a := s.add("a", Config{Priority: 150, Local: addrA, Preempt: preempt})
		b := s.boot("b", Config{Priority: 100, Local: addrB, Preempt: preempt}, 5*time.Second)
		s.wantMaster("b")
		// The higher-priority router returns.
		s.start(a)
		s.run(10 * time.Second)
		if preempt {
			s.wantMaster("a")
			if b.m.State() != Backup {
				t.Errorf("preempted b is %v", b.m.State())
			}
		} else {
			s.wantMaster("b")
			if a.m.State() != Backup {
				t.Errorf("returning a is %v", a.m.State())
			}
		}
	}
}

func TestEqualPriorityHigherAddressWins(t *testing.T) {
	s := newSim(t)
	// Both become master (no adverts yet heard), then settle.
	s.bootPair(Config{Priority: 100}, Config{Priority: 100}, 10*time.Second)
	s.wantMaster("b")
}

func TestOwnerTakesOverAtOnce(t *testing.T) {
	s := newSim(t)
	b := s.boot("b", Config{Priority: 100, Local: addrB}, 5*time.Second)
	a := s.add("a", Config{Priority: 255, Local: addrA})
	s.start(a)
	if a.m.State() != Master || b.m.State() != Backup {
		t.Fatalf("owner %v, other %v", a.m.State(), b.m.State())
	}
	s.run(5 * time.Second)
	s.wantMaster("a")
}

func TestPeersFilterAdverts(t *testing.T) {
	s := newSim(t)
	// c is not among b's peers: its adverts, however high, do not count.
	c := s.add("c", Config{Priority: 200, Local: addrC})
	b := s.add("b", Config{Priority: 100, Local: addrB, Peers: []netip.Addr{addrA}})
	s.start(c)
	s.start(b)
	s.run(10 * time.Second)
	if b.m.State() != Master {
		t.Fatalf("b obeyed a non-peer: %v", b.m.State())
	}
	adv := &Advert{VRID: 51, Priority: 200, Interval: time.Second}
	if v := b.m.Receive(s.now, addrC, 255, adv); v != NotAPeer {
		t.Errorf("verdict %v", v)
	}
	if v := b.m.Receive(s.now, addrA, 255, adv); v != Accepted || b.m.State() != Backup {
		t.Errorf("a peer's advert: %v, state %v", v, b.m.State())
	}
}

func TestTTLCheck(t *testing.T) {
	s := newSim(t)
	s.ttl = 254
	a, _ := s.bootPair(Config{Priority: 150}, Config{Priority: 100}, 10*time.Second)
	// Nothing from off-link counts, so both claim the addresses.
	if len(s.masters()) != 2 {
		t.Fatalf("masters %v", s.masters())
	}
	if v := a.m.Receive(s.now, addrB, 64, &Advert{VRID: 51, Priority: 200}); v != WrongTTL {
		t.Errorf("verdict %v", v)
	}
	if v := a.m.Receive(s.now, addrB, 255, &Advert{VRID: 52, Priority: 200}); v != WrongVRID {
		t.Errorf("verdict %v", v)
	}
	if v := a.m.Receive(s.now, addrA, 255, &Advert{VRID: 51, Priority: 200}); v != Own {
		t.Errorf("verdict %v", v)
	}
}

func TestFaultGivesUpMaster(t *testing.T) {
	s := newSim(t)
	a, _ := s.bootPair(Config{Priority: 150}, Config{Priority: 100}, 5*time.Second)
	a.m.SetFault(s.now, true)
	s.flush()
	if a.m.State() != Fault {
		t.Fatalf("a is %v", a.m.State())
	}
	s.run(2 * time.Second)
	s.wantMaster("b")
	// The link returns: a rejoins as backup (no preemption).
	a.m.SetFault(s.now, false)
	s.run(10 * time.Second)
	s.wantMaster("b")
	if a.m.State() != Backup {
		t.Errorf("a after the link returned: %v", a.m.State())
	}
}
