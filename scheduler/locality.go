package scheduler

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/table"
)

// The cache of ip_vs_lblc.c and ip_vs_lblcr.c: 1 << CONFIG_IP_VS_LBLC_TAB_BITS
// (10) hash chains keyed by destination address, garbage-collected by a
// periodic check.
const (
	lcTabSize = 1024
	lcTabMask = lcTabSize - 1
	// lcMaxSize is tbl->max_size: beyond it the periodic check evicts.
	lcMaxSize = lcTabSize * 16
	// checkInterval is CHECK_EXPIRE_INTERVAL, the period of the check.
	checkInterval = 60 * time.Second
	// entryTimeout is ENTRY_TIMEOUT: how long an entry must sit unused
	// before an over-full table may evict it.
	entryTimeout = 6 * time.Minute
	// countForFullExpiration is COUNT_FOR_FULL_EXPIRATION: every 30th check
	// sweeps the whole table for entries unused for the expiration.
	countForFullExpiration = 30
	// jiffy is the time unit of the cache. The kernel keeps lastuse in
	// jiffies; milliseconds are a HZ=1000 kernel's jiffies, and let a busy
	// entry skip rewriting lastuse more than once per millisecond.
	jiffy = time.Millisecond
)

// lcHashKey is ip_vs_lblc_hashkey and ip_vs_lblcr_hashkey.
func lcHashKey(a netip.Addr) uint32 { return (addrFold(a) * goldenRatio) & lcTabMask }

// lcEntry is an ip_vs_lblc_entry or ip_vs_lblcr_entry: the association of
// a destination address with a real server (lblc) or a set of them (lblcr).
type lcEntry struct {
	addr    netip.Addr
	next    atomic.Pointer[lcEntry]
	lastuse atomic.Int64 // jiffies
	// dest is the lblc entry's real server, and hint where it was last
	// found in the destination list.
	dest atomic.Pointer[table.Dest]
	hint atomic.Int32
	// set is the lblcr entry's server set; replaced whole on change so
	// readers need no lock.
	set atomic.Pointer[destSet]
	// lastmod is ip_vs_dest_set.lastmod, in jiffies.
	lastmod atomic.Int64
}

// touch records a use at now, as the kernel's en->lastuse = jiffies.
func (e *lcEntry) touch(now int64) {
	if e.lastuse.Load() != now {
		e.lastuse.Store(now)
	}
}

// lcTable is an ip_vs_lblc_table / ip_vs_lblcr_table. Readers walk the
// chains without locks (the kernel's RCU); inserts, removals and set
// changes happen under mu (svc->sched_lock).
type lcTable struct {
	clk        clock.Clock
	real       bool      // clk is the system clock
	base       time.Time // jiffies count from here
	expiration int64     // lblc_expiration / lblcr_expiration, in jiffies

	mu      sync.Mutex
	bucket  [lcTabSize]atomic.Pointer[lcEntry]
	entries atomic.Int64
	// The periodic check's state, under gcMu. The kernel runs the check
	// from a timer; here it runs when a Schedule finds the timer due, with
	// `now` set to each missed firing time in turn, which leaves the table
	// as the timer would have since nothing looked at it in between.
	gcMu    sync.Mutex
	nextGC  atomic.Int64 // jiffies of the next firing
	rover   int
	counter int
}

func (t *lcTable) init(clk clock.Clock, expiration time.Duration) {
	t.clk = clk
	_, t.real = clk.(clock.Real)
	t.base = clk.Now()
	t.expiration = int64(expiration / jiffy)
	// ip_vs_lblc_init_svc: counter 1, rover 0, first check one interval on.
	t.counter = 1
	t.nextGC.Store(int64(checkInterval / jiffy))
}

// now returns the current time in jiffies since the table was made. The
// difference uses the monotonic clock when the clock provides one; for the
// system clock time.Since reads only that, which is half the cost of a
// full time.Now on the scheduling path.
func (t *lcTable) now() int64 {
	if t.real {
		return int64(time.Since(t.base) / jiffy)
	}
	return int64(t.clk.Now().Sub(t.base) / jiffy)
}

// get is ip_vs_lblc_get: the entry for addr, or nil.
func (t *lcTable) get(addr netip.Addr) *lcEntry {
	for e := t.bucket[lcHashKey(addr)].Load(); e != nil; e = e.next.Load() {
		if e.addr == addr {
			return e
		}
	}
	return nil
}

// insert hashes a new entry at the head of its chain (ip_vs_lblc_hash).
// Called with mu held.
func (t *lcTable) insert(e *lcEntry) {
	b := &t.bucket[lcHashKey(e.addr)]
	e.next.Store(b.Load())
	b.Store(e)
	t.entries.Add(1)
}

// sweep removes the entries of bucket j for which expired reports true and
// returns how many it removed. Readers on a removed entry still find the
// rest of the chain through its next pointer. Called with mu held.
func (t *lcTable) sweep(j int, expired func(*lcEntry) bool) int {
	removed := 0
	var prev *lcEntry
	for e := t.bucket[j].Load(); e != nil; e = e.next.Load() {
		if !expired(e) {
			prev = e
			continue
		}
		if prev == nil {
			t.bucket[j].Store(e.next.Load())
		} else {
			prev.next.Store(e.next.Load())
		}
		t.entries.Add(-1)
		removed++
	}
	return removed
}

// maybeGC runs the periodic checks that have come due by now. Only one
// goroutine runs them; the others go on scheduling.
func (t *lcTable) maybeGC(now int64) {
	if now < t.nextGC.Load() || !t.gcMu.TryLock() {
		return
	}
	defer t.gcMu.Unlock()
	interval := int64(checkInterval / jiffy)
	at := t.nextGC.Load()
	for at <= now {
		if t.counter%countForFullExpiration != 0 && t.entries.Load() <= lcMaxSize {
			// Quiet firings only count; skip straight to the next
			// full check, or to now.
			skip := min(int64(countForFullExpiration-t.counter%countForFullExpiration), (now-at)/interval+1)
			t.counter += int(skip)
			at += skip * interval
			continue
		}
		if t.counter%countForFullExpiration == 0 && t.entries.Load() <= lcMaxSize {
			// A full check followed only by quiet firings and further
			// full checks, with nothing scheduled in between, leaves
			// the table as the last of those full checks alone would:
			// each removes a superset of what the earlier ones did.
			if cycles := (now - at) / (countForFullExpiration * interval); cycles > 0 {
				at += cycles * countForFullExpiration * interval
			}
		}
		t.check(at)
		at += interval
	}
	t.nextGC.Store(at)
}

// check is ip_vs_lblc_check_expire / ip_vs_lblcr_check_expire firing at
// now: every 30th firing sweeps the whole table for entries unused for the
// expiration; otherwise, if the table holds more than max_size entries, it
// evicts entries unused for six minutes, bucket by bucket from the rover,
// until it has removed 4/3 of the excess (at most half of max_size).
// Called with gcMu held.
func (t *lcTable) check(now int64) {
	if t.counter%countForFullExpiration == 0 {
		t.fullCheck(now)
		t.counter = 1
		return
	}
	entries := t.entries.Load()
	if entries <= lcMaxSize {
		t.counter++
		return
	}
	goal := (entries - lcMaxSize) * 4 / 3
	if goal > lcMaxSize/2 {
		goal = lcMaxSize / 2
	}
	timeout := int64(entryTimeout / jiffy)
	j := t.rover
	for range lcTabSize {
		j = (j + 1) & lcTabMask
		t.mu.Lock()
		goal -= int64(t.sweep(j, func(e *lcEntry) bool {
			return !(now < e.lastuse.Load()+timeout)
		}))
		t.mu.Unlock()
		if goal <= 0 {
			break
		}
	}
	t.rover = j
}

// fullCheck is ip_vs_lblc_full_check / ip_vs_lblcr_full_check: drop every
// entry unused for the expiration. It visits every bucket once, starting
// after the rover, so the rover ends where it began.
func (t *lcTable) fullCheck(now int64) {
	j := t.rover
	for range lcTabSize {
		j = (j + 1) & lcTabMask
		t.mu.Lock()
		t.sweep(j, func(e *lcEntry) bool {
			return !(now < e.lastuse.Load()+t.expiration)
		})
		t.mu.Unlock()
	}
	t.rover = j
}

// Len returns the number of cache entries.
func (t *lcTable) Len() int { return int(t.entries.Load()) }

// lcScheduler is what lblcScheduler and lblcrScheduler share: the cache
// of destination addresses and the published destination list.
type lcScheduler struct {
	cache lcTable
	cur   atomic.Pointer[lcSnap]
}

func (s *lcScheduler) init(clk clock.Clock, expiration time.Duration) {
	s.cache.init(clk, expiration)
	s.cur.Store(newLCSnap(nil))
}

// Update publishes the new destination list. Like the kernel modules, it
// leaves the cache alone: an entry's removed destinations are skipped as
// unavailable on lookup, and rescheduled.
func (s *lcScheduler) Update(dests []*table.Dest) { s.cur.Store(newLCSnap(dests)) }

// Len returns the number of cache entries, for monitoring and tests.
func (s *lcScheduler) Len() int { return s.cache.Len() }

// lookup begins a pick for p as both kernel modules do: it runs the
// periodic checks that are due and returns the time, the destination list
// and the cache entry of p's destination address, touched, or nil.
func (s *lcScheduler) lookup(p *table.Packet) (int64, *lcSnap, netip.Addr, *lcEntry) {
	now := s.cache.now()
	s.cache.maybeGC(now)
	sn := s.cur.Load()
	addr := p.Dst.Addr().Unmap()
	en := s.cache.get(addr)
	if en != nil {
		en.touch(now)
	}
	return now, sn, addr, en
}

// scheduleNew ends a pick the cache could not answer as both kernel
// modules do: wlc picks from the whole service and, under the cache lock,
// join records the pick in addr's entry, the one another pick may have
// created since the lookup or else a new one, which is hashed once join
// has filled it in.
func (s *lcScheduler) scheduleNew(sn *lcSnap, addr netip.Addr, now int64, join func(*lcEntry, *table.Dest)) *table.Dest {
	d := pickWLC(sn.dests)
	if d == nil {
		return nil
	}
	s.cache.mu.Lock()
	if en := s.cache.get(addr); en != nil {
		join(en, d)
	} else {
		en := &lcEntry{addr: addr}
		en.lastuse.Store(now)
		join(en, d)
		s.cache.insert(en)
	}
	s.cache.mu.Unlock()
	return d
}

// lcSnap is the destination list of lblc and lblcr with an index to answer
// "is this cached destination still in the service" (the kernel's
// IP_VS_DEST_F_AVAILABLE) without a scan.
type lcSnap struct {
	dests []*table.Dest
	index map[*table.Dest]int32
}

func newLCSnap(dests []*table.Dest) *lcSnap {
	index := make(map[*table.Dest]int32, len(dests))
	for i, d := range dests {
		index[d] = int32(i)
	}
	return &lcSnap{dests: dests, index: index}
}

// available reports whether d is in the list. hint remembers where d was
// last found: checking that slot first answers without hashing, and is
// right whatever races moved the hint, since it compares the slot itself.
func (s *lcSnap) available(d *table.Dest, hint *atomic.Int32) bool {
	if i := hint.Load(); uint(i) < uint(len(s.dests)) && s.dests[i] == d {
		return true
	}
	i, ok := s.index[d]
	if ok {
		hint.Store(i)
	}
	return ok
}

// destSet is an lblcr entry's ip_vs_dest_set: its members, newest first as
// list_add_rcu leaves them, each with an availability hint.
type destSet struct {
	dests []*table.Dest
	hints []atomic.Int32
}

func newDestSet(dests []*table.Dest) *destSet {
	return &destSet{dests: dests, hints: make([]atomic.Int32, len(dests))}
}

// lcOverloaded is is_overloaded of ip_vs_lblc.c and ip_vs_lblcr.c: the
// destination has more active connections than its weight and some
// destination of the service has fewer than half its weight.
func (s *lcSnap) lcOverloaded(d *table.Dest) bool {
	if d.ActiveConns() > d.Weight() {
		for _, o := range s.dests {
			if o.ActiveConns()*2 < o.Weight() {
				return true
			}
		}
	}
	return false
}
