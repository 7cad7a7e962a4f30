package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// fakeLink records announcements.
type fakeLink struct {
	mu     sync.Mutex
	sent   []sentAnnouncement
	closed bool
}

type sentAnnouncement struct {
	at  time.Time
	vip VIP
}

func (f *fakeLink) Announce(v VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		panic("announcement on a closed link")
	}
	f.sent = append(f.sent, sentAnnouncement{time.Now(), v})
	return nil
}

func (f *fakeLink) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeLink) count(v VIP) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.sent {
		if s.vip == v {
			n++
		}
	}
	return n
}

func (f *fakeLink) times(v VIP) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, s := range f.sent {
		if s.vip == v {
			out = append(out, s.at)
		}
	}
	return out
}

var (
	vip4 = VIP{Prefix: netip.MustParsePrefix("192.0.2.100/32"), Device: "eth0"}
	vip6 = VIP{Prefix: netip.MustParsePrefix("2001:db8::100/128"), Device: "eth0:1"}
)

// waitCount waits, boundedly, until v was announced n times.
func waitCount(t *testing.T, f *fakeLink, v VIP, n int) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := f.count(v); got < n {
			return fmt.Errorf("%v announced %d times, want %d", v.Prefix, got, n)
		}
		return nil
	})
}

// A burst is Count announcements Spacing apart, then a second burst after
// Repeat, then nothing.
func TestAnnouncerPaces(t *testing.T) {
	f := &fakeLink{}
	term := StartTerm(context.Background(), f, Pace{Count: 3, Spacing: 20 * time.Millisecond, Repeat: 150 * time.Millisecond}, nil)
	defer term.End()
	start := time.Now()
	term.Announce(vip4, vip6)
	waitCount(t, f, vip4, 6)
	waitCount(t, f, vip6, 6)
	ts := f.times(vip4)
	for i := 1; i < 3; i++ {
		if d := ts[i].Sub(ts[i-1]); d < 20*time.Millisecond {
			t.Errorf("announcements %d and %d %v apart, want ≥ 20ms", i, i+1, d)
		}
	}
	if d := ts[3].Sub(start); d < 150*time.Millisecond {
		t.Errorf("second burst %v after the first, want ≥ 150ms", d)
	}
	time.Sleep(200 * time.Millisecond)
	if n := f.count(vip4); n != 6 {
		t.Errorf("%d announcements, want 6 (two bursts of three)", n)
	}
}

// Ending a term stops every schedule at once, even mid-burst and before
// the repeat; once End returns nothing more is sent and the link is
// closed.
func TestTermEndStopsAnnouncing(t *testing.T) {
	f := &fakeLink{}
	term := StartTerm(context.Background(), f, Pace{Count: 5, Spacing: 30 * time.Millisecond, Repeat: time.Second}, nil)
	term.Announce(vip4)
	waitCount(t, f, vip4, 2)
	term.End()
	n := f.count(vip4)
	time.Sleep(200 * time.Millisecond)
	if got := f.count(vip4); got != n || n > 3 {
		t.Errorf("%d announcements at End, %d after", n, got)
	}
	if !f.closed {
		t.Error("the link is still open")
	}
	term.Announce(vip4) // after the end: neither blocks nor sends
	var none *Term
	none.Announce(vip4)
	none.End()
}

// Announcing an address again restarts its burst instead of adding a
// second one, so repeated clashes cannot multiply the rate.
func TestAnnounceAgainRestarts(t *testing.T) {
	f := &fakeLink{}
	term := StartTerm(context.Background(), f, Pace{Count: 3, Spacing: 40 * time.Millisecond}, nil)
	defer term.End()
	term.Announce(vip4)
	waitCount(t, f, vip4, 1)
	term.Announce(vip4)
	waitCount(t, f, vip4, 4)
	time.Sleep(200 * time.Millisecond)
	if n := f.count(vip4); n != 4 {
		t.Errorf("%d announcements, want 4 (one, then a restarted burst of three)", n)
	}
}

// A held announcement waits while Hold says so (an advert is being
// handled), and no longer than holdMax if it never stops saying so.
func TestAnnouncerHolds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		holdFor  time.Duration
		min, max time.Duration
	}{
		{"briefly", 20 * time.Millisecond, 20 * time.Millisecond, holdMax},
		{"forever", time.Hour, holdMax, holdMax + 200*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLink{}
			start := time.Now()
			hold := func() bool { return time.Since(start) < tc.holdFor }
			term := StartTerm(context.Background(), f, Pace{Count: 1, Hold: hold}, nil)
			defer term.End()
			term.Announce(vip4)
			waitCount(t, f, vip4, 1)
			if d := f.times(vip4)[0].Sub(start); d < tc.min || d > tc.max {
				t.Errorf("first announcement after %v, want between %v and %v", d, tc.min, tc.max)
			}
		})
	}
}
