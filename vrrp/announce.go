package vrrp

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// VIP is an address the master owns: a virtual server's address (/32 or
// /128) or the NAT router's (with nat_nmask's prefix).
type VIP struct {
	Prefix netip.Prefix
	// Device is lvs.cf's device, possibly an alias such as eth0:1.
	Device string
}

// BaseDevice strips an ifconfig alias (eth0:1 → eth0): aliases are labels
// of addresses on the base interface, not interfaces.
func BaseDevice(dev string) string {
	base, _, _ := strings.Cut(dev, ":")
	return base
}

// Link puts announcements on the wire: it is the kernel boundary of an
// Announcer, so that pacing and cancellation are tested without one.
type Link interface {
	// Announce sends one announcement that v lives at this host's MAC: a
	// gratuitous ARP for IPv4, an unsolicited neighbour advertisement for
	// IPv6, on v's base device.
	Announce(v VIP) error
	// Close releases the link's sockets.
	Close() error
}

// Pace is how an Announcer spaces its announcements.
type Pace struct {
	// Count is how many announcements make a burst.
	Count int
	// Spacing separates the announcements of a burst.
	Spacing time.Duration
	// Repeat, when set, sends a second burst this long after the first,
	// for the neighbours (and switches) that missed it: keepalived's
	// garp_master_delay.
	Repeat time.Duration
	// Hold, when set, holds a due announcement while it reports true, a
	// millisecond at a time and at most holdMax: Instance.Busy, so that an
	// advert that may end the term is handled before the term announces
	// again.
	Hold func() bool
}

// holdMax bounds how long Pace.Hold delays an announcement.
const holdMax = 50 * time.Millisecond

// Announcer keeps a master's neighbours pointed at it. It lives exactly as
// long as one term as master: Run until the role ends, then nothing more
// is sent, which is what keeps a router that lost the role from pulling
// the LAN back to itself. Every address is paced on its own schedule, and
// announcing one again restarts its schedule instead of stacking a second,
// so a master that keeps meeting another one does not flood the link.
type Announcer struct {
	link Link
	pace Pace
	log  *slog.Logger

	mu      sync.Mutex
	pending []VIP
	wake    chan struct{}
}

// NewAnnouncer returns an announcer over link; Run starts it. A nil logger
// discards.
func NewAnnouncer(link Link, pace Pace, log *slog.Logger) *Announcer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if pace.Count < 1 {
		pace.Count = 1
	}
	return &Announcer{link: link, pace: pace, log: log, wake: make(chan struct{}, 1)}
}

// Announce schedules a burst for each of vips, starting now. It never
// blocks, and does nothing once Run has returned.
func (a *Announcer) Announce(vips ...VIP) {
	a.mu.Lock()
	a.pending = append(a.pending, vips...)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

type burst struct {
	vip      VIP
	left     int
	next     time.Time
	repeatAt time.Time
}

// Run sends the scheduled announcements until ctx is done, then closes the
// link. When it returns, no announcement is in flight.
func (a *Announcer) Run(ctx context.Context) {
	defer a.link.Close()
	var sched []*burst
	var heldSince time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		a.mu.Lock()
		for _, v := range a.pending {
			b := &burst{vip: v, left: a.pace.Count, next: now}
			if a.pace.Repeat > 0 {
				b.repeatAt = now.Add(a.pace.Repeat)
			}
			replaced := false
			for i, o := range sched {
				if o.vip == v {
					sched[i], replaced = b, true
				}
			}
			if !replaced {
				sched = append(sched, b)
			}
		}
		a.pending = a.pending[:0]
		a.mu.Unlock()
		var next time.Time
		kept := sched[:0]
		hold := a.pace.Hold != nil && a.pace.Hold()
		switch {
		case !hold:
			heldSince = time.Time{}
		case heldSince.IsZero():
			heldSince = now
		case now.Sub(heldSince) >= holdMax:
			hold = false
		}
		held := false
		for _, b := range sched {
			if !b.next.After(now) && hold {
				held = true
			} else if !b.next.After(now) {
				if ctx.Err() != nil {
					return
				}
				if err := a.link.Announce(b.vip); err != nil {
					a.log.Warn("announcing a virtual address", "addr", b.vip.Prefix.Addr().String(),
						"device", b.vip.Device, "error", err.Error())
				}
				b.left--
				b.next = now.Add(a.pace.Spacing)
				if b.left == 0 && !b.repeatAt.IsZero() {
					b.left, b.next, b.repeatAt = a.pace.Count, b.repeatAt, time.Time{}
				}
			}
			if b.left > 0 {
				kept = append(kept, b)
				if next.IsZero() || b.next.Before(next) {
					next = b.next
				}
			}
		}
		sched = kept
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(time.Now()), 0)
		}
		if held {
			wait = time.Millisecond
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-timer.C:
		}
	}
}

// Term is one spell as master: an Announcer running until End. Starting a
// term on becoming master and ending it on leaving, before anything else,
// is what makes "announcements only while master" hold.
type Term struct {
	ann    *Announcer
	cancel context.CancelFunc
	done   chan struct{}
}

// StartTerm starts an announcer over link under ctx.
func StartTerm(ctx context.Context, link Link, pace Pace, log *slog.Logger) *Term {
	ctx, cancel := context.WithCancel(ctx)
	t := &Term{ann: NewAnnouncer(link, pace, log), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.ann.Run(ctx)
	}()
	return t
}

// Announce schedules a burst for each of vips. A nil term does nothing.
func (t *Term) Announce(vips ...VIP) {
	if t != nil {
		t.ann.Announce(vips...)
	}
}

// End stops the term and waits until nothing more can be sent. A nil term
// does nothing.
func (t *Term) End() {
	if t == nil {
		return
	}
	t.cancel()
	<-t.done
}
