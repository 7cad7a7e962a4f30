//go:build linux

package e2e

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// interopCase is one scenario between a govs router g and a keepalived
// router k: it sets them up, makes something happen, and names the router
// that must be master at the end.
type interopCase struct {
	name string
	run  func(l *lan, g, k *node) *node
}

// interopCases covers what a LAN sees of a router pair: who is master at
// start, a router's death and clean exit, preemption either way, adverts
// at different intervals, a master that stalls and comes back (a clash of
// two masters), and unicast adverts, each in both directions.
var interopCases = slices.Concat(
	mirrored("start", "first", func(l *lan, a, b *node) *node { return l.startBoth(a, b) }),
	mirrored("crash", "master", func(l *lan, a, b *node) *node {
		l.pair(a, b)
		a.crash()
		return b
	}),
	mirrored("sigterm", "master", func(l *lan, a, b *node) *node {
		l.pair(a, b)
		a.signal(syscall.SIGTERM)
		return b
	}),
	// Without preemption a better router that joins stays backup.
	mirrored("no preempt", "joins", func(l *lan, a, b *node) *node {
		l.pair(b, a)
		l.hold(1500 * time.Millisecond)
		return b
	}),
	// With it, the better router takes over and the other falls silent.
	mirrored("preempt", "joins", func(l *lan, a, b *node) *node {
		a.preempt, b.preempt = true, true
		l.pairTakeover(b, a)
		return a
	}),
	// A backup that adopts the master's interval neither flaps nor waits
	// the wrong time once the master dies.
	// A backup that joins with a shorter interval cannot know the
	// master's before its first advert, so it may take over for a moment
	// and lose the clash that follows (RFC 5798 starts the master-down
	// timer from the router's own interval); from then on it must keep
	// still, and when the master dies, wait three of the master's
	// intervals.
	mirrored("intervals", "master 500 ms", func(l *lan, a, b *node) *node {
		a.advert = 500 * time.Millisecond
		l.pair(a, b)
		l.hold(2 * time.Second)
		a.crash()
		return b
	}),
	// The master stops for a little longer than the backup's master-down
	// interval: the backup takes over and announces, the master resumes
	// and finds another master with a lower priority. It must win the
	// clash and repair the LAN; the other must yield and fall silent.
	mirrored("stall", "master", func(l *lan, a, b *node) *node {
		l.pair(a, b)
		l.stall(a, b)
		return a
	}),
	mirrored("unicast", "master", func(l *lan, a, b *node) *node {
		a.unicast, b.unicast = true, true
		l.pair(a, b)
		a.crash()
		return b
	}),
)

// mirrored is a scenario told of a router a and the other one, b, as two
// cases: govs as a ("crash/govs master"), then keepalived as a
// ("crash/keepalived master"). run returns the router that must end as
// master.
func mirrored(what, role string, run func(l *lan, a, b *node) *node) []interopCase {
	return []interopCase{
		{what + "/govs " + role, func(l *lan, g, k *node) *node { return run(l, g, k) }},
		{what + "/keepalived " + role, func(l *lan, g, k *node) *node { return run(l, k, g) }},
	}
}

// TestKeepalivedInterop runs every interop case for IPv4 and IPv6, each on a
// LAN of its own, adverts every 100 ms unless the case says otherwise.
func TestKeepalivedInterop(t *testing.T) {
	for _, fam := range families {
		for _, c := range interopCases {
			t.Run(fam.name+"/"+c.name, func(t *testing.T) {
				l := newLAN(t, fam, [2]string{"govs", "keepalived"})
				master := c.run(l, l.nodes[0], l.nodes[1])
				l.settle(master)
			})
		}
	}
}

// pair starts master alone, lets it take the VIP and the client use it,
// then starts backup, which must stay backup. The master gets priority
// 150 and the backup 100, as Piranha's primary and backup by default.
func (l *lan) pair(master, backup *node) {
	l.t.Helper()
	master.prio, backup.prio = 150, 100
	l.pairTakeover(master, backup)
	// Long enough for a joining router to hear adverts at the slowest
	// interval the cases use.
	time.Sleep(master.masterDown(master.advert))
	l.waitRole(backup, 3*time.Second, "backup")
	l.waitRole(master, 0, "master")
}

// pairTakeover starts first alone as master, then second with whatever
// priority the case gave it.
func (l *lan) pairTakeover(first, second *node) {
	l.t.Helper()
	if first.prio == second.prio {
		first.prio, second.prio = 100, 150
	}
	first.start()
	l.waitRole(first, 5*time.Second, "master")
	l.prime(first)
	second.start()
}

// startBoth starts a and b one right after the other: exactly one must be
// master, whichever wins the race.
func (l *lan) startBoth(a, b *node) *node {
	l.t.Helper()
	a.prio, b.prio = 150, 100
	a.start()
	b.start()
	var master *node
	testutil.Eventually(l.t, 5*time.Second, func() error {
		ra, rb := a.role(), b.role()
		switch {
		case ra == "master" && rb == "backup":
			master = a
		case rb == "master" && ra == "backup":
			master = b
		default:
			return fmt.Errorf("after starting both: %v is %s, %v is %s", a, ra, b, rb)
		}
		return nil
	})
	l.prime(master)
	return master
}

// waitRole waits, boundedly, for n to have one of the roles ("a|b").
func (l *lan) waitRole(n *node, within time.Duration, roles string) {
	l.t.Helper()
	want := []string{"", ""}
	want[n.i] = roles
	l.waitRoles(within, want...)
}

// hold fails if either router changes role during d.
func (l *lan) hold(d time.Duration) {
	l.t.Helper()
	was := [2]string{l.nodes[0].role(), l.nodes[1].role()}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if now := [2]string{l.nodes[0].role(), l.nodes[1].role()}; now != was {
			l.t.Fatalf("roles changed from %v to %v while both routers ran", was, now)
		}
	}
}

// stall stops master for a little longer than backup's master-down
// interval: until backup has taken over and begun announcing. Then master
// goes on, believing itself master still.
func (l *lan) stall(master, backup *node) {
	l.t.Helper()
	// Past the master's first burst of announcements, so that what
	// repairs the LAN after the clash is a deliberate re-announcement.
	time.Sleep(time.Second)
	master.signal(syscall.SIGSTOP)
	defer master.signal(syscall.SIGCONT)
	time.Sleep(backup.masterDown(master.advert))
	l.waitRole(backup, 3*time.Second, "master")
	time.Sleep(100 * time.Millisecond)
}
