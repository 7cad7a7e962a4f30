package scheduler

import (
	"sync"
	"sync/atomic"

	"github.com/govs/govs/table"
)

// rank is one load-based scheduler's choice, written as the kernel's scan
// writes it: which destinations it may take, and when a later destination
// beats the candidate so far. Every kernel scan of this family keeps the
// earlier destination on a tie, and its "beats" is a strict weak order
// (a comparison of one number, or of rationals by cross-multiplication), so
// the scan's answer is the first minimum of that order, and a tournament
// tree over the list yields it too.
type rank struct {
	eligible func(d *table.Dest) bool
	// beats reports whether r strictly beats the candidate l that comes
	// before it in the list.
	beats func(l, r *table.Dest) bool
	// loadFree: the rank ignores load, so only a change of the overload
	// flag can change its answer between Updates.
	loadFree bool
}

// loadTree is a tournament tree over a destination list: each leaf holds
// its destination if the rank may take it, each inner node the winner of
// its two children, the root the scan's answer. Schedule reads the root;
// a destination's load change replays the matches on its path to the root,
// so a decision costs one load and a connection event log2(n) comparisons,
// where the kernel's scan costs n comparisons per decision.
//
// Changes are serialized by mu: two replays on crossing paths could
// otherwise leave a node with a winner computed from a stale child. Each
// replay reads the counters as they are when it runs, after the change
// that caused it, so once changes stop the root is exactly the scan's
// answer; while they race, the root is as current as a kernel scan made
// at the same moment, which also reads counters that other CPUs are
// changing.
type loadTree struct {
	rank   rank
	dests  []*table.Dest
	leaves int            // a power of two, at least len(dests)
	node   []atomic.Int32 // 1 is the root; leaves from leaves; a dest index or -1
	refs   []table.LoadWatch
	mu     sync.Mutex
}

// newLoadTree builds the tree over dests and makes it their load watcher.
// It becomes their watcher before it reads their loads, and under mu, so a
// change made meanwhile is either read by the build or replayed after it.
func newLoadTree(r rank, dests []*table.Dest) *loadTree {
	leaves := leavesFor(len(dests))
	t := &loadTree{rank: r, dests: dests, leaves: leaves, node: make([]atomic.Int32, 2*leaves)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refs = watchAll(t, dests, r.loadFree)
	for i := range leaves {
		t.node[leaves+i].Store(t.leaf(i))
	}
	for k := leaves - 1; k >= 1; k-- {
		t.node[k].Store(t.match(k))
	}
	return t
}

// leavesFor is the smallest power of two that holds n leaves.
func leavesFor(n int) int {
	leaves := 1
	for leaves < n {
		leaves <<= 1
	}
	return leaves
}

// watchAll makes w the load watcher of dests, each at its index. With
// flagOnly, w only needs to hear of overload flag changes, and a
// destination without connection thresholds, whose flag never changes, is
// not watched: its connection events then cost nothing.
func watchAll(w table.LoadWatcher, dests []*table.Dest, flagOnly bool) []table.LoadWatch {
	refs := make([]table.LoadWatch, len(dests))
	for i, d := range dests {
		if rs := d.Config(); flagOnly && rs.UpperThreshold == 0 && rs.LowerThreshold == 0 && !d.Overloaded() {
			d.Watch(nil)
			continue
		}
		refs[i] = table.LoadWatch{W: w, Slot: i}
		d.Watch(&refs[i])
	}
	return refs
}

// leaf is leaf i's value: its destination's index if the rank may take it.
func (t *loadTree) leaf(i int) int32 {
	if i < len(t.dests) && t.rank.eligible(t.dests[i]) {
		return int32(i)
	}
	return -1
}

// match plays node k's children against each other. The left child's
// destinations all come before the right child's, so the left one is the
// scan's candidate and keeps a tie.
func (t *loadTree) match(k int) int32 {
	l, r := t.node[2*k].Load(), t.node[2*k+1].Load()
	switch {
	case l < 0:
		return r
	case r < 0:
		return l
	case t.rank.beats(t.dests[l], t.dests[r]):
		return r
	}
	return l
}

// LoadChanged replays the matches from slot's leaf to the root. Every
// ancestor is replayed even when a winner stays the same, since its load,
// which the matches above compare, has changed.
func (t *loadTree) LoadChanged(slot int) {
	t.mu.Lock()
	k := t.leaves + slot
	t.node[k].Store(t.leaf(slot))
	for k > 1 {
		k >>= 1
		t.node[k].Store(t.match(k))
	}
	t.mu.Unlock()
}

// best returns the root's destination, or nil.
func (t *loadTree) best() *table.Dest {
	if i := t.node[1].Load(); i >= 0 {
		return t.dests[i]
	}
	return nil
}

// weightTree is a sum tree over a destination list: each leaf holds the
// weight of its destination if twos may draw it (not overloaded, weight
// above 0), each inner node the sum of its children. It finds the first
// destination whose running weight reaches a random draw, as the scan of
// ip_vs_twos_schedule does, in log2(n) steps.
type weightTree struct {
	dests  []*table.Dest
	leaves int
	node   []atomic.Int64
	refs   []table.LoadWatch
	mu     sync.Mutex
}

// newWeightTree builds the tree over dests and makes it their load
// watcher, as newLoadTree does.
func newWeightTree(dests []*table.Dest) *weightTree {
	leaves := leavesFor(len(dests))
	t := &weightTree{dests: dests, leaves: leaves, node: make([]atomic.Int64, 2*leaves)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refs = watchAll(t, dests, true)
	for i := range dests {
		t.node[leaves+i].Store(t.leaf(i))
	}
	for k := leaves - 1; k >= 1; k-- {
		t.node[k].Store(t.node[2*k].Load() + t.node[2*k+1].Load())
	}
	return t
}

func (t *weightTree) leaf(i int) int64 {
	if d := t.dests[i]; !d.Overloaded() {
		return int64(max(0, d.Weight()))
	}
	return 0
}

// LoadChanged updates slot's weight and the sums above it. Only the
// overload flag can change a drawable weight between Updates, so most
// connection events stop at the leaf.
func (t *weightTree) LoadChanged(slot int) {
	t.mu.Lock()
	k := t.leaves + slot
	if w := t.leaf(slot); w != t.node[k].Load() {
		t.node[k].Store(w)
		for k > 1 {
			k >>= 1
			t.node[k].Store(t.node[2*k].Load() + t.node[2*k+1].Load())
		}
	}
	t.mu.Unlock()
}

// total is the drawable weight.
func (t *weightTree) total() int64 { return t.node[1].Load() }

// find returns the first destination whose running weight reaches r, for
// 1 <= r <= total. Sums read while another goroutine updates them may not
// add up; the descent then ends at the last leaf of the side it took, or
// at a destination that has just become ineligible, as a kernel scan
// racing with a counter change would.
func (t *weightTree) find(r int64) *table.Dest {
	// Written so that the compiler emits conditional moves: a random draw
	// makes each step's direction a coin toss, and a mispredicted branch
	// per level cost more than the rest of the descent.
	k := 1
	for k < t.leaves {
		l := t.node[2*k].Load()
		k <<= 1
		var step, sub int64
		if r > l {
			step, sub = 1, l
		}
		k += int(step)
		r -= sub
	}
	if i := k - t.leaves; i < len(t.dests) {
		return t.dests[i]
	}
	return nil
}
