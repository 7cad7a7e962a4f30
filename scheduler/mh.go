package scheduler

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// The Maglev lookup table of ip_vs_mh.c with the default
// CONFIG_IP_VS_MH_TAB_INDEX of 12: primes[12 - 8] = 4093 entries, and
// IP_VS_MH_TAB_BITS = 12 / 2 = 6 bits of weight resolution before weights
// are shifted down.
const (
	mhTabSize = 4093
	mhTabBits = 6
)

// mhHash1 and mhHash2 are the fixed keys of generate_hash_secret: the first
// hashes destinations to their offset and clients to their entry, the
// second hashes destinations to their skip.
var (
	mhHash1 = sipKey{2654435761, 2654435761}
	mhHash2 = sipKey{2654446892, 2654446892}
)

// mhScheduler is ip_vs_mh.c, Maglev consistent hashing (Eisenbud et al.,
// NSDI 2016, §3.4): each destination walks its own permutation of a 4093
// entry table, claiming free entries in turns proportional to its weight,
// and a client's address (plus port with mh-port) hashes to an entry.
//
// Like the kernel it weighs destinations by their last non-zero weight
// (dest->last_weight), so quiescing a server to weight 0 leaves the table
// as it is: its clients find it unavailable (and, with mh-fallback, probe
// on) instead of every client being reshuffled. The kernel refuses a
// service of more than 4093 destinations; here the extra ones get no
// entries.
type mhScheduler struct {
	port, fallback bool
	mu             sync.Mutex
	// lastWeight is dest->last_weight: the weight a destination was added
	// with, then its latest non-zero weight.
	lastWeight map[*table.Dest]int
	cur        atomic.Pointer[mhSnap]
}

type mhSnap struct {
	dests   []*table.Dest
	weights []int32
	lookup  [mhTabSize]*table.Dest
}

func newMH(flags model.SchedFlags) *mhScheduler {
	s := &mhScheduler{
		port:       flags.Has(model.FlagPort),
		fallback:   flags.Has(model.FlagFallback),
		lastWeight: map[*table.Dest]int{},
	}
	s.cur.Store(&mhSnap{})
	return s
}

// Name returns "mh".
func (s *mhScheduler) Name() model.Scheduler { return model.SchedMH }

// mhHashKey is ip_vs_mh_hashkey: hsiphash of offset + port + address as
// one 32-bit value (wrapping, as the kernel's unsigned int does).
func mhHashKey(fold uint32, port uint16, k *sipKey, offset uint32) uint32 {
	return hsiphash32(offset+uint32(port)+fold, k)
}

// Update is ip_vs_mh_dest_changed: recompute gcd and shift over the last
// weights, then ip_vs_mh_permutate and ip_vs_mh_populate.
func (s *mhScheduler) Update(dests []*table.Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if sameList(old.dests, old.weights, dests) {
		return
	}
	// __ip_vs_update_dest: keep the last_weight with latest non-0 weight;
	// a newly added destination takes its weight, whatever it is.
	lw := make(map[*table.Dest]int, len(dests))
	for _, d := range dests {
		w := d.Weight()
		if prev, ok := s.lastWeight[d]; ok && w == 0 {
			w = prev
		}
		lw[d] = w
	}
	s.lastWeight = lw
	next := &mhSnap{dests: dests, weights: weightsOf(dests)}
	weights := make([]int, len(dests))
	for i, d := range dests {
		weights[i] = lw[d]
	}
	mhPopulate(&next.lookup, dests, weights)
	s.cur.Store(next)
}

// mhPopulate fills lookup for dests with last weights lw, as
// ip_vs_mh_gcd_weight, ip_vs_mh_shift_weight, ip_vs_mh_permutate and
// ip_vs_mh_populate do. With no positive weight the table stays empty
// (ip_vs_mh_reset).
func mhPopulate(lookup *[mhTabSize]*table.Dest, dests []*table.Dest, lw []int) {
	g := 0
	maxw := 0
	for _, w := range lw {
		if w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
		maxw = max(maxw, w)
	}
	if g < 1 {
		return
	}
	// To keep turns small, shift weight/gcd down to mhTabBits bits.
	rshift := max(bits.Len(uint(maxw/g))-mhTabBits, 0)

	type setup struct {
		skip, perm uint32
		turns      int
	}
	ds := make([]setup, len(dests))
	for i, d := range dests {
		fold := addrFold(d.Addr())
		offset := mhHashKey(fold, d.Port(), &mhHash1, 0) % mhTabSize
		ds[i].skip = mhHashKey(fold, d.Port(), &mhHash2, 0)%(mhTabSize-1) + 1
		ds[i].perm = offset
		ds[i].turns = (lw[i] / g) >> rshift
		if ds[i].turns == 0 && lw[i] != 0 {
			ds[i].turns = 1
		}
	}

	var taken [(mhTabSize + 63) / 64]uint64
	n := 0
	for {
		// One round over the list; a destination takes `turns`
		// consecutive claims before the next one gets its go.
		dtCount := 0
		for i := 0; i < len(dests); {
			if ds[i].turns < 1 {
				// Ignore an added server with zero weight.
				i++
				continue
			}
			c := ds[i].perm
			for taken[c/64]&(1<<(c%64)) != 0 {
				ds[i].perm += ds[i].skip
				if ds[i].perm >= mhTabSize {
					ds[i].perm -= mhTabSize
				}
				c = ds[i].perm
			}
			taken[c/64] |= 1 << (c % 64)
			lookup[c] = dests[i]
			n++
			if n == mhTabSize {
				return
			}
			dtCount++
			if dtCount >= ds[i].turns {
				dtCount = 0
				i++
			}
		}
	}
}

// Schedule is ip_vs_mh_schedule with ip_vs_mh_get or, with mh-fallback,
// ip_vs_mh_get_fallback.
func (s *mhScheduler) Schedule(p *table.Packet) *table.Dest {
	if p == nil {
		return nil
	}
	sn := s.cur.Load()
	fold, port := sourceKey(p, s.port)
	ihash := mhHashKey(fold, port, &mhHash1, 0) % mhTabSize
	return hashedPick(sn.lookup[ihash], s.fallback, ihash, mhTabSize, func(roffset uint32) *table.Dest {
		return sn.lookup[mhHashKey(fold, port, &mhHash1, roffset)%mhTabSize]
	})
}
