package scheduler

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// cursorSealed marks a cursor word whose snapshot Update has replaced. A
// Schedule that reads it reloads the snapshot instead of advancing a cursor
// whose value Update has already carried over, so no pick is lost or
// repeated across an Update: the effect of the kernel's sched_lock.
const cursorSealed = math.MaxUint64

// sealCursor freezes a cursor word and returns its last value.
func sealCursor(c *atomic.Uint64) uint64 {
	for {
		v := c.Load()
		if c.CompareAndSwap(v, cursorSealed) {
			return v
		}
	}
}

// head is the position of the list head: the kernel's cursor before the
// first destination.
const head = -1

// rrPos encodes a cursor index (head is -1) as a cursor word, offset by
// one so that no position collides with cursorSealed.
func rrPos(i int) uint64 { return uint64(i + 1) }

// rrIndex decodes a cursor word.
func rrIndex(v uint64) int { return int(v) - 1 }

// rrScheduler is ip_vs_rr.c: a circular scan starting after the last
// destination picked, taking the first one with weight > 0 that is not
// overloaded.
type rrScheduler struct {
	mu  sync.Mutex // serializes Update
	cur atomic.Pointer[rrSnap]
}

type rrSnap struct {
	dests []*table.Dest
	// pos is the index of the last destination picked, or head (see
	// rrPos): the kernel's svc->sched_data list pointer.
	pos atomic.Uint64
}

func newRR() *rrScheduler {
	s := &rrScheduler{}
	sn := &rrSnap{}
	sn.pos.Store(rrPos(head))
	s.cur.Store(sn)
	return s
}

// Name returns "rr".
func (s *rrScheduler) Name() model.Scheduler { return model.SchedRR }

// Update keeps the cursor on the same destination. If that destination
// left the list, the cursor moves to the nearest surviving predecessor (the
// head if none), which is where ip_vs_rr_del_dest leaves it: the next pick
// is then the removed destination's successor.
func (s *rrScheduler) Update(dests []*table.Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	index := make(map[*table.Dest]int, len(dests))
	for i, d := range dests {
		index[d] = i
	}
	next := &rrSnap{dests: dests}
	last := rrIndex(sealCursor(&old.pos))
	pos := head
	for i := last; i >= 0 && i < len(old.dests); i-- {
		if j, ok := index[old.dests[i]]; ok {
			pos = j
			break
		}
	}
	next.pos.Store(rrPos(pos))
	s.cur.Store(next)
}

// Schedule follows ip_vs_rr_schedule: the destinations after the cursor to
// the end of the list, then from the start up to and including the cursor's
// own destination. A failed scan leaves the cursor where it was.
func (s *rrScheduler) Schedule(*table.Packet) *table.Dest {
	for {
		sn := s.cur.Load()
		v := sn.pos.Load()
		if v == cursorSealed {
			runtime.Gosched()
			continue
		}
		n := len(sn.dests)
		idx := rrIndex(v)
		var found *table.Dest
		for range n {
			idx++
			if idx >= n {
				idx = 0
			}
			if d := sn.dests[idx]; d.Eligible() {
				found = d
				break
			}
		}
		if found == nil {
			return nil
		}
		if sn.pos.CompareAndSwap(v, rrPos(idx)) {
			return found
		}
	}
}
