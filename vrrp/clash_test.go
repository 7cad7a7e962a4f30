package vrrp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A master that hears a lower-priority master (one that took over while
// this one was stalled) stays, advertises at once so that the other yields
// without waiting an interval, and asks for its addresses to be announced
// again; the log says exactly that.
func TestClashLowerMasterStaysAndReannounces(t *testing.T) {
	for _, tc := range []struct {
		name       string
		localPrio  uint8
		local      string
		otherPrio  uint8
		other      string
		wantReason string
	}{
		{"lower priority", 150, "192.0.2.1", 100, "192.0.2.2",
			"stayed master after clash with 192.0.2.2 (priority 100 < 150): re-announced"},
		{"equal priority, lower address", 100, "192.0.2.2", 100, "192.0.2.1",
			"stayed master after clash with 192.0.2.1 (priority 100 = 100, address 192.0.2.1 < 192.0.2.2): re-announced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			a := s.boot("a", Config{Priority: tc.localPrio, Local: addrOf(tc.local), Interval: 100 * time.Millisecond}, time.Second)
			s.wantMaster("a")
			sent := len(a.sent)
			a.m.Receive(s.now, addrOf(tc.other), 255, &Advert{VRID: 51, Priority: tc.otherPrio, Interval: 100 * time.Millisecond})
			if a.m.State() != Master {
				t.Fatalf("a is %v after a weaker advert", a.m.State())
			}
			if len(a.sent) != sent+1 || a.sent[sent].Priority != tc.localPrio {
				t.Errorf("a sent %d adverts on the clash, want one at once", len(a.sent)-sent)
			}
			if len(a.reannounced) != 1 || a.reannounced[0] != tc.wantReason {
				t.Errorf("re-announcements %q, want [%q]", a.reannounced, tc.wantReason)
			}
			// The advert timer restarts from the clash.
			if got := a.m.Next().Sub(s.now); got != 100*time.Millisecond {
				t.Errorf("next advert in %v, want 100ms", got)
			}
		})
	}
}

// A master that hears a better one yields at once and says why; it does
// not ask for announcements.
func TestClashBetterMasterYields(t *testing.T) {
	s := newSim(t)
	a := s.boot("a", Config{Priority: 150, Local: addrA, Interval: 100 * time.Millisecond}, time.Second)
	a.m.Receive(s.now, addrB, 255, &Advert{VRID: 51, Priority: 200, Interval: 300 * time.Millisecond})
	if a.m.State() != Backup {
		t.Fatalf("a is %v after a better advert", a.m.State())
	}
	if got, want := a.whys[len(a.whys)-1], "advert from 192.0.2.2 priority 200 > 150"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	if len(a.reannounced) != 0 {
		t.Errorf("a yielded and re-announced: %q", a.reannounced)
	}
	// The new master's interval rules the down timer (RFC 5798 §6.4.2).
	if got, want := a.m.Next().Sub(s.now), 900*time.Millisecond+106*300*time.Millisecond/256; got != want {
		t.Errorf("master down in %v, want %v", got, want)
	}
	a.m.Receive(s.now, addrC, 255, &Advert{VRID: 51, Priority: 150, Interval: 100 * time.Millisecond})
	s.run(5 * time.Second)
	if got := a.whys[len(a.whys)-1]; got != "no advert from 192.0.2.3 for 341ms" {
		t.Errorf("takeover reason %q", got)
	}
}

// Every takeover says what the backup saw: a silent master, a resigning
// one, a weaker one it preempts, or nobody at all.
func TestTakeoverReasons(t *testing.T) {
	s := newSim(t)
	b := s.boot("b", Config{Priority: 100, Local: addrB, Interval: 100 * time.Millisecond}, time.Second)
	if got, want := b.whys[len(b.whys)-1], "no advert for 361ms after becoming backup"; got != want {
		t.Errorf("startup takeover %q, want %q", got, want)
	}

	s = newSim(t)
	a, b := s.bootPair(Config{Priority: 150, Interval: 100 * time.Millisecond}, Config{Priority: 100, Interval: 100 * time.Millisecond}, time.Second)
	a.m.Shutdown(s.now)
	s.flush()
	s.kill(a)
	s.run(time.Second)
	if got, want := b.whys[len(b.whys)-1], "192.0.2.1 resigned (priority 0 advert)"; got != want {
		t.Errorf("after a priority-0 advert %q, want %q", got, want)
	}

	s = newSim(t)
	a = s.boot("a", Config{Priority: 100, Local: addrA, Interval: 100 * time.Millisecond}, time.Second)
	b = s.boot("b", Config{Priority: 150, Local: addrB, Interval: 100 * time.Millisecond, Preempt: true}, time.Second)
	s.wantMaster("b")
	if got, want := b.whys[len(b.whys)-1], "preempting 192.0.2.1 (priority 100 < 150)"; got != want {
		t.Errorf("preemption %q, want %q", got, want)
	}
	if got, want := a.whys[len(a.whys)-1], "advert from 192.0.2.2 priority 150 > 100"; got != want {
		t.Errorf("preempted %q, want %q", got, want)
	}
}

// A backup with a shorter interval than the master's may take over before
// it hears the first advert, loses the clash that follows, and then keeps
// still however long the master runs, because it adopts the master's
// interval; deadtime is scaled to the master's interval alike.
func TestMismatchedIntervalsDoNotFlap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		master   time.Duration
		b        Config
		wantDown time.Duration
	}{
		{"vrrp_advert_ms", time.Second, Config{Priority: 100, Local: addrB, Interval: 100 * time.Millisecond},
			3*time.Second + 156*time.Second/256},
		// Unscaled, 500 ms of deadtime plus skew is shorter than the
		// master's 2 s interval.
		{"keepalive and deadtime", 2 * time.Second,
			Config{Priority: 100, Local: addrB, Interval: 200 * time.Millisecond, DownInterval: 500 * time.Millisecond},
			5*time.Second + 156*2*time.Second/256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			a := s.boot("a", Config{Priority: 150, Local: addrA, Interval: tc.master}, 10*time.Second)
			b := s.add("b", tc.b)
			s.start(b)
			s.run(3 * time.Second)
			s.wantMaster("a")
			settled := len(b.changes)
			s.run(60 * time.Second)
			if extra := b.changes[settled:]; len(extra) != 0 {
				t.Errorf("b flapped: %v", extra)
			}
			last, _, _ := b.m.LastAdvert()
			s.kill(a)
			s.run(10 * time.Second)
			s.wantMaster("b")
			if got := b.became[Master].Sub(last); got != tc.wantDown {
				t.Errorf("b took over %v after the last advert, want %v", got, tc.wantDown)
			}
		})
	}
}

// With unicast peers, the peer list is the check, not the hop limit:
// keepalived sends IPv6 unicast adverts with hop limit 64. Multicast adverts
// must still come with 255.
func TestUnicastPeerAcceptsAnyTTL(t *testing.T) {
	adv := &Advert{VRID: 51, Priority: 200, Interval: time.Second}
	now := time.Now()
	uni := NewMachine(Config{VRID: 51, Priority: 100, Local: addrA, Interval: time.Second, Peers: []netip.Addr{addrB}}, Hooks{})
	uni.Start(now)
	if v := uni.Receive(now, addrB, 64, adv); v != Accepted {
		t.Errorf("unicast advert from the peer with hop limit 64: %v", v)
	}
	if v := uni.Receive(now, addrC, 255, adv); v != NotAPeer {
		t.Errorf("unicast advert from a stranger: %v", v)
	}
	multi := NewMachine(Config{VRID: 51, Priority: 100, Local: addrA, Interval: time.Second}, Hooks{})
	multi.Start(now)
	if v := multi.Receive(now, addrB, 64, adv); v != WrongTTL {
		t.Errorf("multicast advert with TTL 64: %v", v)
	}
	if !strings.Contains(WrongTTL.String(), "255") {
		t.Errorf("WrongTTL says %q", WrongTTL)
	}
}

func addrOf(s string) netip.Addr { return netip.MustParseAddr(s) }
