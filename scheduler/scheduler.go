package scheduler

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Rand is a source of random numbers. It must be safe for concurrent use,
// since Schedule runs from many goroutines.
type Rand interface{ Uint64() uint64 }

// globalRand draws from math/rand/v2's top-level functions, which are safe
// for concurrent use and need no seeding.
type globalRand struct{}

func (globalRand) Uint64() uint64 { return rand.Uint64() }

// Option adjusts a scheduler built by NewWithOptions.
type Option func(*options)

type options struct {
	rand       Rand
	clock      clock.Clock
	expiration time.Duration
}

// WithRand sets the random source of twos, so tests can fix its draws.
func WithRand(r Rand) Option { return func(o *options) { o.rand = r } }

// WithClock sets the clock lblc and lblcr use to age their cache entries,
// so tests can drive expiry with a clock.Fake.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithExpiration sets how long an unused lblc entry, or an unchanged lblcr
// set, lives: the kernel's lblc_expiration and lblcr_expiration sysctls
// (24 hours by default). Zero or less keeps the default.
func WithExpiration(d time.Duration) Option { return func(o *options) { o.expiration = d } }

// defaultExpiration is DEFAULT_EXPIRATION of ip_vs_lblc.c and ip_vs_lblcr.c.
const defaultExpiration = 24 * time.Hour

// New constructs the scheduler named name with flags (model.FlagFallback is
// sh-fallback/mh-fallback, model.FlagPort is sh-port/mh-port; other
// schedulers ignore flags, as the kernel's do). An empty name means wlc,
// ipvsadm's default.
func New(name model.Scheduler, flags model.SchedFlags) (table.Scheduler, error) {
	return NewWithOptions(name, flags)
}

// NewWithRand is New with an injectable random source for twos, so tests
// are deterministic.
func NewWithRand(name model.Scheduler, flags model.SchedFlags, r Rand) (table.Scheduler, error) {
	return NewWithOptions(name, flags, WithRand(r))
}

// NewWithOptions is New with options: a random source, a clock and the
// locality cache expiration.
func NewWithOptions(name model.Scheduler, flags model.SchedFlags, opts ...Option) (table.Scheduler, error) {
	o := options{rand: globalRand{}, clock: clock.Real{}, expiration: defaultExpiration}
	for _, f := range opts {
		f(&o)
	}
	if o.rand == nil {
		o.rand = globalRand{}
	}
	if o.clock == nil {
		o.clock = clock.Real{}
	}
	if o.expiration <= 0 {
		o.expiration = defaultExpiration
	}
	switch name {
	case model.SchedRR:
		return newRR(), nil
	case model.SchedWRR:
		return newWRR(), nil
	case model.SchedLC:
		return newList(model.SchedLC, rankLC, pickLC), nil
	case model.SchedWLC, "":
		return newList(model.SchedWLC, rankWLC, pickWLC), nil
	case model.SchedSED:
		return newList(model.SchedSED, rankSED, pickSED), nil
	case model.SchedNQ:
		return newList(model.SchedNQ, rankNQ, pickNQ), nil
	case model.SchedFO:
		return newList(model.SchedFO, rankFO, pickFO), nil
	case model.SchedOVF:
		return newList(model.SchedOVF, rankOVF, pickOVF), nil
	case model.SchedTWOS:
		return newTwos(o.rand), nil
	case model.SchedDH:
		return newDH(), nil
	case model.SchedSH:
		return newSH(flags), nil
	case model.SchedMH:
		return newMH(flags), nil
	case model.SchedLBLC:
		return newLBLC(o.clock, o.expiration), nil
	case model.SchedLBLCR:
		return newLBLCR(o.clock, o.expiration), nil
	}
	return nil, fmt.Errorf("unknown scheduler %q", string(name))
}

// The table constructs schedulers through New.
var _ table.NewSchedulerFunc = New

// goldenRatio is the multiplier of the kernel's dh, sh, lblc and lblcr
// hashes (2654435761, Knuth's multiplicative constant).
const goldenRatio = 2654435761

// addrFold turns an address into the 32-bit value the kernel hashes:
// ntohl(addr->ip) for IPv4, and for IPv6 the XOR of its four 32-bit words
// (ip_vs_dh_hashkey, ip_vs_sh_hashkey, ip_vs_mh_hashkey, ip_vs_lblc_hashkey).
// XOR commutes with the byte swap, so folding big-endian words is the same
// as ntohl of the folded network-order words. An IPv4-mapped IPv6 address
// is hashed as the IPv4 address it carries, matching how govs keys services
// and real servers.
func addrFold(a netip.Addr) uint32 {
	if !a.IsValid() {
		return 0
	}
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	return binary.BigEndian.Uint32(b[0:4]) ^ binary.BigEndian.Uint32(b[4:8]) ^
		binary.BigEndian.Uint32(b[8:12]) ^ binary.BigEndian.Uint32(b[12:16])
}

// srcPort is the client port the sh-port and mh-port flags hash: the
// kernel takes it only for TCP, UDP and SCTP (ip_vs_sh_get_port,
// ip_vs_mh_get_port) and uses 0 for anything else.
func srcPort(p *table.Packet) uint16 {
	switch p.Proto {
	case model.ProtoTCP, model.ProtoUDP, protoSCTP:
		return p.Src.Port()
	}
	return 0
}

// protoSCTP is IPPROTO_SCTP, which the kernel's port hashing also accepts.
const protoSCTP model.Proto = 132

// gcd is the kernel's lib/math/gcd.c result for positive integers.
func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sameList reports whether dests holds exactly the destinations of old, in
// the same order, with the weights recorded in weights.
func sameList(old []*table.Dest, weights []int32, dests []*table.Dest) bool {
	if len(old) != len(dests) || len(weights) != len(dests) {
		return false
	}
	for i, d := range dests {
		if old[i] != d || weights[i] != int32(d.Weight()) {
			return false
		}
	}
	return true
}

// weightsOf records the weights Update saw.
func weightsOf(dests []*table.Dest) []int32 {
	w := make([]int32, len(dests))
	for i, d := range dests {
		w[i] = int32(d.Weight())
	}
	return w
}
