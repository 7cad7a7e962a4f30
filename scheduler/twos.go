package scheduler

import (
	"math/bits"
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// twosScheduler is ip_vs_twos.c, the power of two choices: two independent
// weighted random draws over the eligible destinations, keeping the one
// with the lower overhead/weight.
//
// Each draw maps a 64-bit random number onto [0, total weight] by
// multiply-shift, the method of the kernel's get_random_u32_below, in 64
// bits and without its rejection step: the bias left is below 2^-32.
// Deviation: the final comparison is made in 64 bits where the kernel's int
// products could overflow past 2^31.
type twosScheduler struct {
	rand Rand
	cur  atomic.Pointer[[]*table.Dest]
}

func newTwos(r Rand) *twosScheduler {
	s := &twosScheduler{rand: r}
	s.cur.Store(new([]*table.Dest))
	return s
}

// Name returns "twos".
func (s *twosScheduler) Name() model.Scheduler { return model.SchedTWOS }

// Update publishes the new destination list.
func (s *twosScheduler) Update(dests []*table.Dest) { s.cur.Store(&dests) }

// Schedule follows ip_vs_twos_schedule.
func (s *twosScheduler) Schedule(*table.Packet) *table.Dest {
	dests := *s.cur.Load()
	var choice1, choice2 *table.Dest
	total := 0
	for _, d := range dests {
		if !d.Overloaded() {
			if w := d.Weight(); w > 0 {
				total += w
				choice1 = d
			}
		}
	}
	if choice1 == nil {
		return nil
	}
	// Random weights are drawn from [0, total] inclusive: with 0 the first
	// eligible destination is drawn, since rweight - weight <= 0 there.
	total++
	r1 := int64(below(s.rand.Uint64(), uint64(total)))
	r2 := int64(below(s.rand.Uint64(), uint64(total)))
	var w1, w2 int64 = -1, -1
	var oh1, oh2 int64
	for _, d := range dests {
		if d.Overloaded() {
			continue
		}
		w := int64(d.Weight())
		if w <= 0 {
			continue
		}
		r1 -= w
		r2 -= w
		if r1 <= 0 && w1 == -1 {
			choice1, w1, oh1 = d, w, int64(d.Overhead())
		}
		if r2 <= 0 && w2 == -1 {
			choice2, w2, oh2 = d, w, int64(d.Overhead())
		}
		if w1 != -1 && w2 != -1 {
			break
		}
	}
	if choice2 != nil && w2*oh1 > w1*oh2 {
		choice1 = choice2
	}
	return choice1
}

// below maps a uniform 64-bit x onto [0, n): the high word of x × n.
func below(x, n uint64) uint64 {
	hi, _ := bits.Mul64(x, n)
	return hi
}
