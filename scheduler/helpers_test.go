package scheduler

import (
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// mkDests builds destinations A, B, C, ... at 10.0.0.1, 10.0.0.2, ... port
// 80 with the given weights.
func mkDests(weights ...int) []*table.Dest {
	out := make([]*table.Dest, len(weights))
	for i, w := range weights {
		out[i] = table.NewDest(model.RealServer{
			Addr:   netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}),
			Port:   80,
			Weight: w,
		})
	}
	return out
}

// mkDest builds one destination with an upper connection threshold.
func mkDest(last byte, weight int, upper uint32) *table.Dest {
	return table.NewDest(model.RealServer{
		Addr:           netip.AddrFrom4([4]byte{10, 0, 0, last}),
		Port:           80,
		Weight:         weight,
		UpperThreshold: upper,
	})
}

// label names a destination by its last address byte: 10.0.0.1 is "A".
// nil is "-".
func label(d *table.Dest) string {
	if d == nil {
		return "-"
	}
	b := d.Addr().As4()
	return string(rune('A' + int(b[3]) - 1))
}

// overloaded builds destination number last (10.0.0.last) with an upper
// threshold of 1 and one inactive connection, so that it carries the
// OVERLOAD flag the way the kernel's ip_vs_bind_dest sets it.
func overloaded(last byte, weight int) *table.Dest {
	d := mkDest(last, weight, 1)
	d.SetCounters(0, 1, 0)
	if !d.Overloaded() {
		panic("threshold did not overload")
	}
	return d
}

// setCounters gives every destination of ds active and inactive
// connections.
func setCounters(ds []*table.Dest, active, inactive int) {
	for _, d := range ds {
		d.SetCounters(active, inactive, 0)
	}
}

// newSched builds a scheduler or fails the test.
func newSched(t testing.TB, name model.Scheduler, flags model.SchedFlags, opts ...Option) table.Scheduler {
	t.Helper()
	s, err := NewWithOptions(name, flags, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newUpdated builds a scheduler, or fails the test, and gives it ds.
func newUpdated(t testing.TB, name model.Scheduler, flags model.SchedFlags, ds []*table.Dest) table.Scheduler {
	t.Helper()
	s := newSched(t, name, flags)
	s.Update(ds)
	return s
}

// wantPick checks that s picks the destination labelled want for p; what,
// if set, says when in the failure message.
func wantPick(t testing.TB, s table.Scheduler, p *table.Packet, want, what string) {
	t.Helper()
	if got := label(s.Schedule(p)); got != want {
		if what != "" {
			what += ": "
		}
		t.Errorf("%spicked %s, want %s", what, got, want)
	}
}

// seq runs n picks with packet p (nil allowed) and returns their labels.
func seq(s table.Scheduler, n int, p *table.Packet) string {
	var b strings.Builder
	for range n {
		b.WriteString(label(s.Schedule(p)))
	}
	return b.String()
}

// pkt is a TCP packet from src:sport to dst:80.
func pkt(src string, sport uint16, dst string) *table.Packet {
	return &table.Packet{
		Proto: model.ProtoTCP,
		Src:   netip.AddrPortFrom(netip.MustParseAddr(src), sport),
		Dst:   netip.AddrPortFrom(netip.MustParseAddr(dst), 80),
	}
}

// fixedRand returns its values in order, then panics: a test that draws
// more than it planned fails loudly.
type fixedRand struct {
	mu   sync.Mutex
	vals []uint64
	n    int
}

func (r *fixedRand) Uint64() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n >= len(r.vals) {
		panic("fixedRand: out of values")
	}
	v := r.vals[r.n]
	r.n++
	return v
}

func (r *fixedRand) drawn() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
