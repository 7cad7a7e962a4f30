package scheduler

import (
	"sync"
	"sync/atomic"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// hashTabSize is the bucket count of dh and sh: 1 << CONFIG_IP_VS_DH_TAB_BITS
// and 1 << CONFIG_IP_VS_SH_TAB_BITS, both 8 by default.
const (
	hashTabSize = 256
	hashTabMask = hashTabSize - 1
)

// hashSnap is the immutable bucket table of dh or sh.
type hashSnap struct {
	dests   []*table.Dest
	weights []int32
	buckets [hashTabSize]*table.Dest
}

// dhScheduler is ip_vs_dh.c, destination hashing: a 256-bucket table filled
// round-robin with the destination list, weights not counted, indexed by
// the hash of the packet's destination address.
type dhScheduler struct {
	mu  sync.Mutex
	cur atomic.Pointer[hashSnap]
}

func newDH() *dhScheduler {
	s := &dhScheduler{}
	s.cur.Store(&hashSnap{})
	return s
}

// Name returns "dh".
func (s *dhScheduler) Name() model.Scheduler { return model.SchedDH }

// Update is ip_vs_dh_reassign: bucket i holds destination i modulo the list
// length, or nothing if the list is empty.
func (s *dhScheduler) Update(dests []*table.Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := &hashSnap{dests: dests}
	if len(dests) > 0 {
		for i := range next.buckets {
			next.buckets[i] = dests[i%len(dests)]
		}
	}
	s.cur.Store(next)
}

// dhHashKey is ip_vs_dh_hashkey.
func dhHashKey(fold uint32) uint32 { return (fold * goldenRatio) & hashTabMask }

// Schedule is ip_vs_dh_schedule: the destination of the address's bucket,
// or nil if it has weight 0 or is overloaded. There is no fallback.
func (s *dhScheduler) Schedule(p *table.Packet) *table.Dest {
	if p == nil {
		return nil
	}
	d := s.cur.Load().buckets[dhHashKey(addrFold(p.Dst.Addr()))]
	if d == nil || !d.Eligible() {
		return nil
	}
	return d
}

// shScheduler is ip_vs_sh.c, source hashing: a 256-bucket table in which
// each destination, in list order, takes as many consecutive buckets as its
// weight (at least one), cycling through the list until the table is full.
// The bucket is chosen by the client's address, plus its port with
// sh-port; with sh-fallback an unavailable destination's clients probe on
// through the table.
type shScheduler struct {
	port, fallback bool
	mu             sync.Mutex
	cur            atomic.Pointer[hashSnap]
}

func newSH(flags model.SchedFlags) *shScheduler {
	s := &shScheduler{port: flags.Has(model.FlagPort), fallback: flags.Has(model.FlagFallback)}
	s.cur.Store(&hashSnap{})
	return s
}

// Name returns "sh".
func (s *shScheduler) Name() model.Scheduler { return model.SchedSH }

// Update is ip_vs_sh_reassign. A destination of weight 0 still takes one
// bucket, as the kernel moves on only once its count reaches the weight;
// its clients then find it unavailable.
func (s *shScheduler) Update(dests []*table.Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := &hashSnap{dests: dests, weights: weightsOf(dests)}
	if len(dests) > 0 {
		p, count := 0, 0
		for i := range next.buckets {
			next.buckets[i] = dests[p]
			// Don't move to the next dest until its weight is filled.
			count++
			if count >= int(next.weights[p]) {
				p++
				if p == len(dests) {
					p = 0
				}
				count = 0
			}
		}
	}
	s.cur.Store(next)
}

// shHashKey is ip_vs_sh_hashkey: (offset + hash_32(port + addr, 8)) mod
// 256, where hash_32 (include/linux/hash.h, generic on x86) keeps the top
// eight bits of the product with GOLDEN_RATIO_32. Since Linux 4.2 sh
// hashes this way (dh, lblc and lblcr still take the low bits of a
// product with 2654435761); Debian's 6.1 does.
func shHashKey(fold uint32, port uint16, offset uint32) uint32 {
	return (offset + ((uint32(port)+fold)*goldenRatio32)>>(32-8)) & hashTabMask
}

// goldenRatio32 is GOLDEN_RATIO_32 of include/linux/hash.h.
const goldenRatio32 = 0x61C88647

// Schedule is ip_vs_sh_schedule with ip_vs_sh_get or, with sh-fallback,
// ip_vs_sh_get_fallback.
func (s *shScheduler) Schedule(p *table.Packet) *table.Dest {
	if p == nil {
		return nil
	}
	sn := s.cur.Load()
	fold, port := sourceKey(p, s.port)
	ihash := shHashKey(fold, port, 0)
	return hashedPick(sn.buckets[ihash], s.fallback, ihash, hashTabSize, func(roffset uint32) *table.Dest {
		return sn.buckets[shHashKey(fold, port, roffset)]
	})
}

// sourceKey is what sh and mh hash a client by: its address folded to 32
// bits and, with sh-port or mh-port, its port (0 without).
func sourceKey(p *table.Packet, withPort bool) (uint32, uint16) {
	var port uint16
	if withPort {
		port = srcPort(p)
	}
	return addrFold(p.Src.Addr()), port
}

// hashedPick ends ip_vs_sh_schedule and ip_vs_mh_schedule: first, the
// destination in the client's bucket, if it is eligible; otherwise, with
// fallback (ip_vs_sh_get_fallback, ip_vs_mh_get_fallback), the first
// eligible destination probing on around the table of size buckets from
// the client's hash ihash, bucket giving the destination at each offset,
// until an empty bucket. Starting from the original hash keeps the choice
// deterministic for the client.
func hashedPick(first *table.Dest, fallback bool, ihash, size uint32, bucket func(roffset uint32) *table.Dest) *table.Dest {
	if first == nil {
		return nil
	}
	if first.Eligible() {
		return first
	}
	if !fallback {
		return nil
	}
	for offset := uint32(0); offset < size; offset++ {
		d := bucket((offset + ihash) % size)
		if d == nil {
			break
		}
		if d.Eligible() {
			return d
		}
	}
	return nil
}
