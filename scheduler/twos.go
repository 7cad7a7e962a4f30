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
//
// The draws descend a sum tree of the drawable weights (weightTree) where
// the kernel walks the list: the same destination for the same draw, in
// log2(n) steps.
type twosScheduler struct {
	rand Rand
	cur  atomic.Pointer[weightTree]
}

func newTwos(r Rand) *twosScheduler {
	s := &twosScheduler{rand: r}
	s.cur.Store(newWeightTree(nil))
	return s
}

// Name returns "twos".
func (s *twosScheduler) Name() model.Scheduler { return model.SchedTWOS }

// Update builds the sum tree over the new list and publishes it.
func (s *twosScheduler) Update(dests []*table.Dest) { s.cur.Store(newWeightTree(dests)) }

// Schedule follows ip_vs_twos_schedule.
func (s *twosScheduler) Schedule(*table.Packet) *table.Dest {
	t := s.cur.Load()
	total := t.total()
	if total <= 0 {
		return nil
	}
	// Random weights are drawn from [0, total] inclusive. The kernel's scan
	// takes the first destination whose running weight is at least the
	// draw, so 0 and 1 both draw the first drawable destination.
	total++
	r1 := max(1, int64(below(s.rand.Uint64(), uint64(total))))
	r2 := max(1, int64(below(s.rand.Uint64(), uint64(total))))
	choice1, choice2 := t.find(r1), t.find(r2)
	if choice1 == nil {
		return choice2
	}
	if choice2 != nil {
		w1, w2 := int64(choice1.Weight()), int64(choice2.Weight())
		if w2*int64(choice1.Overhead()) > w1*int64(choice2.Overhead()) {
			return choice2
		}
	}
	return choice1
}

// below maps a uniform 64-bit x onto [0, n): the high word of x × n.
func below(x, n uint64) uint64 {
	hi, _ := bits.Mul64(x, n)
	return hi
}
