package scheduler

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// mhRef is an independent Maglev table builder written from the paper's
// formulation (Eisenbud et al., Pseudocode 1): permutation[i][j] =
// (offset_i + j × skip_i) mod M, each backend taking its next preferred
// free entry in turn, extended with the kernel's weighted turns and gcd /
// shift. Offsets and skips use the general sipHash, checked against the
// reference vectors, rather than the unrolled hot-path version.
func mhRef(dests []*table.Dest, lw []int) []int {
	const M = 4093
	hash := func(k sipKey, d *table.Dest) uint32 {
		v := uint32(d.Port()) + refFold(d.Addr())
		return uint32(sipHash(1, 3, k, []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}))
	}
	g, maxw := 0, 0
	for _, w := range lw {
		if w > 0 {
			if g == 0 {
				g = w
			} else {
				g = gcdTest(g, w)
			}
		}
		maxw = max(maxw, w)
	}
	entry := make([]int, M)
	for i := range entry {
		entry[i] = -1
	}
	if g == 0 {
		return entry
	}
	shift := 0
	for (maxw/g)>>shift >= 1<<6 {
		shift++
	}
	n := len(dests)
	offset, skip, next, turns := make([]int, n), make([]int, n), make([]int, n), make([]int, n)
	for i, d := range dests {
		offset[i] = int(hash(sipKey{2654435761, 2654435761}, d) % M)
		skip[i] = int(hash(sipKey{2654446892, 2654446892}, d)%(M-1)) + 1
		turns[i] = (lw[i] / g) >> shift
		if turns[i] == 0 && lw[i] > 0 {
			turns[i] = 1
		}
	}
	filled := 0
	for {
		for i := range n {
			for range turns[i] {
				c := (offset[i] + next[i]*skip[i]) % M
				for entry[c] >= 0 {
					next[i]++
					c = (offset[i] + next[i]*skip[i]) % M
				}
				entry[c] = i
				next[i]++
				filled++
				if filled == M {
					return entry
				}
			}
		}
	}
}

// refFold folds an address the kernel's way, written independently of
// addrFold.
func refFold(a netip.Addr) uint32 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	b := a.As16()
	var x uint32
	for i := 0; i < 16; i += 4 {
		x ^= uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
	}
	return x
}

// mhEntryRef is the kernel's client lookup: hsiphash(offset + port + addr)
// with the first key, modulo the table size.
func mhEntryRef(src netip.Addr, port uint16, offset uint32) int {
	v := offset + uint32(port) + refFold(src)
	return int(uint32(sipHash(1, 3, sipKey{2654435761, 2654435761},
		[]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})) % 4093)
}

func mhTable(s table.Scheduler) *[mhTabSize]*table.Dest {
	return &s.(*mhScheduler).cur.Load().lookup
}

func countEntries(lookup *[mhTabSize]*table.Dest) map[string]int {
	c := map[string]int{}
	for _, d := range lookup {
		c[label(d)]++
	}
	return c
}

func TestMHTableShares(t *testing.T) {
	// Every populate round each dest claims `turns` entries in list
	// order until 4093 are taken; the shares follow by hand.
	tests := []struct {
		name    string
		weights []int
		want    map[string]int
	}{
		// Rounds of 1 + 2: 1364 rounds fill 4092, the 4093rd goes to A.
		{"1:2", []int{1, 2}, map[string]int{"A": 1365, "B": 2728}},
		// gcd 100 reduces 100:200 to 1:2.
		{"gcd", []int{100, 200}, map[string]int{"A": 1365, "B": 2728}},
		// 4093 = 3 × 1364 + 1.
		{"equal", []int{1, 1, 1}, map[string]int{"A": 1365, "B": 1364, "C": 1364}},
		// mw = 1000 has 10 bits, shift 10 - 6 = 4: turns 1 (0 raised to
		// 1 as the weight is not 0) and 1000 >> 4 = 62. 64 rounds of 63
		// fill 4032; A takes one and B the last 60 of the remaining 61.
		{"shifted", []int{1, 1000}, map[string]int{"A": 65, "B": 4028}},
		// A weight-0 dest is skipped (turns 0).
		{"zero weight", []int{0, 1, 1}, map[string]int{"B": 2047, "C": 2046}},
		// No positive weight: the table is reset, every entry empty.
		{"all zero", []int{0, 0}, map[string]int{"-": 4093}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newUpdated(t, model.SchedMH, 0, mkDests(tc.weights...))
			got := countEntries(mhTable(s))
			if len(got) != len(tc.want) {
				t.Fatalf("shares %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("shares %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// The table and the client lookup match the independent reference for
// random destination sets, IPv4 and IPv6, with and without ports.
func TestMHMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 40 {
		n := 1 + r.IntN(20)
		ds := make([]*table.Dest, n)
		lw := make([]int, n)
		for i := range ds {
			var a netip.Addr
			if r.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(i)})
			} else {
				var b [16]byte
				b[0], b[1], b[15] = 0x20, 0x01, byte(i)
				b[5], b[9] = byte(r.IntN(256)), byte(r.IntN(256))
				a = netip.AddrFrom16(b)
			}
			lw[i] = r.IntN(300)
			ds[i] = table.NewDest(model.RealServer{Addr: a, Port: uint16(r.IntN(3) * 80), Weight: lw[i]})
		}
		flags := model.SchedFlags(0)
		if iter%2 == 1 {
			flags = model.FlagPort
		}
		s := newUpdated(t, model.SchedMH, flags, ds)
		ref := mhRef(ds, lw)
		lookup := mhTable(s)
		for c := range lookup {
			want := (*table.Dest)(nil)
			if ref[c] >= 0 {
				want = ds[ref[c]]
			}
			if lookup[c] != want {
				t.Fatalf("iter %d weights %v: entry %d differs from reference", iter, lw, c)
			}
		}
		for range 200 {
			src := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			port := uint16(r.IntN(65536))
			p := &table.Packet{Proto: model.ProtoTCP, Src: netip.AddrPortFrom(src, port), Dst: netip.MustParseAddrPort("198.51.100.1:80")}
			hp := uint16(0)
			if flags.Has(model.FlagPort) {
				hp = port
			}
			e := ref[mhEntryRef(src, hp, 0)]
			var want *table.Dest
			if e >= 0 && ds[e].Weight() > 0 {
				want = ds[e]
			}
			if got := s.Schedule(p); got != want {
				t.Fatalf("iter %d: client %v picked %v, want %v", iter, p.Src, got, want)
			}
		}
	}
}

func TestMHQuiesceKeepsTable(t *testing.T) {
	// __ip_vs_update_dest keeps last_weight at the latest non-zero
	// weight and ip_vs_mh_permutate uses it: setting B to weight 0 keeps
	// every entry, so A's and C's clients stay and B's get nothing (or,
	// with mh-fallback, the first available entry along their probe).
	ds := mkDests(1, 1, 1)
	s := newSched(t, model.SchedMH, 0)
	fb := newSched(t, model.SchedMH, model.FlagFallback)
	s.Update(ds)
	fb.Update(ds)
	before := *mhTable(s)
	clients := make([]*table.Packet, 3000)
	picks := make([]*table.Dest, len(clients))
	for i := range clients {
		clients[i] = pkt(netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}).String(), 1, "198.51.100.1")
		picks[i] = s.Schedule(clients[i])
	}
	ds[1].SetWeight(0)
	s.Update(ds)
	fb.Update(ds)
	if *mhTable(s) != before {
		t.Fatal("quiescing a destination changed the lookup table")
	}
	var onB int
	for i, p := range clients {
		got, gotFB := s.Schedule(p), fb.Schedule(p)
		if picks[i] == ds[1] {
			onB++
			if got != nil {
				t.Fatalf("client of quiesced B picked %s", label(got))
			}
			// The fallback walks hsiphash(addr + roffset) entries,
			// roffset = (offset + ihash) mod 4093, to the first
			// available one.
			ih := uint32(mhEntryRef(p.Src.Addr(), 0, 0))
			var want *table.Dest
			for off := uint32(0); off < 4093; off++ {
				d := before[mhEntryRef(p.Src.Addr(), 0, (off+ih)%4093)]
				if d.Weight() > 0 {
					want = d
					break
				}
			}
			if gotFB != want || want == nil {
				t.Fatalf("fallback picked %s, want %s", label(gotFB), label(want))
			}
			continue
		}
		if got != picks[i] || gotFB != picks[i] {
			t.Fatalf("client of %s moved to %s / %s", label(picks[i]), label(got), label(gotFB))
		}
	}
	if onB < 700 {
		t.Fatalf("only %d of %d clients were on B", onB, len(clients))
	}
	// Restoring the weight changes nothing in the table either.
	ds[1].SetWeight(1)
	s.Update(ds)
	if *mhTable(s) != before {
		t.Fatal("restoring the weight changed the lookup table")
	}
	// A destination added at weight 0 has no last weight and no
	// entries until it gets one.
	added := mkDests(1, 1, 1, 0)
	s2 := newUpdated(t, model.SchedMH, 0, added)
	if c := countEntries(mhTable(s2)); c["D"] != 0 {
		t.Fatalf("dest added at weight 0 holds %d entries", c["D"])
	}
	added[3].SetWeight(1)
	s2.Update(added)
	if c := countEntries(mhTable(s2)); c["D"] != 1023 {
		t.Fatalf("dest raised to weight 1 holds %d entries, want 1023", c["D"])
	}
}

func TestMHUnavailable(t *testing.T) {
	ds := []*table.Dest{mkDest(1, 1, 0), overloaded(2, 1), mkDest(3, 1, 0)}
	s := newSched(t, model.SchedMH, 0)
	fb := newSched(t, model.SchedMH, model.FlagFallback)
	s.Update(ds)
	fb.Update(ds)
	lookup := mhTable(s)
	for i := range 500 {
		src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		p := &table.Packet{Proto: model.ProtoUDP, Src: netip.AddrPortFrom(src, 53), Dst: netip.MustParseAddrPort("198.51.100.1:53")}
		owner := lookup[mhEntryRef(src, 0, 0)]
		got := s.Schedule(p)
		if owner == ds[1] {
			if got != nil {
				t.Fatalf("overloaded owner: picked %s", label(got))
			}
			if g := fb.Schedule(p); g == nil || g == ds[1] {
				t.Fatalf("fallback picked %s", label(g))
			}
		} else if got != owner {
			t.Fatalf("picked %s, want %s", label(got), label(owner))
		}
	}
}

func TestMHPort(t *testing.T) {
	ds := mkDests(1, 1, 1, 1)
	plain := newSched(t, model.SchedMH, 0)
	port := newSched(t, model.SchedMH, model.FlagPort)
	plain.Update(ds)
	port.Update(ds)
	seenPlain, seenPort := map[*table.Dest]bool{}, map[*table.Dest]bool{}
	for sp := range uint16(64) {
		p := pkt("192.0.2.77", 1024+sp, "198.51.100.1")
		seenPlain[plain.Schedule(p)] = true
		seenPort[port.Schedule(p)] = true
		// ICMP carries no ports: mh-port hashes port 0.
		icmp := &table.Packet{Proto: 1, Src: p.Src, Dst: p.Dst}
		if port.Schedule(icmp) != plain.Schedule(p) {
			t.Fatal("mh-port used a port for ICMP")
		}
	}
	if len(seenPlain) != 1 {
		t.Errorf("without mh-port one client reached %d servers", len(seenPlain))
	}
	if len(seenPort) < 3 {
		t.Errorf("with mh-port 64 source ports reached only %d servers", len(seenPort))
	}
}

// Removing one of N equally weighted servers moves about 1/N of the keys
// under mh (those of the removed server, plus Maglev's small disruption)
// and never more than twice that.
func TestMHRemovalDisruption(t *testing.T) {
	for _, n := range []int{5, 10, 20} {
		ws := make([]int, n)
		for i := range ws {
			ws[i] = 1
		}
		ds := mkDests(ws...)
		s := newUpdated(t, model.SchedMH, 0, ds)
		const keys = 40000
		before := make([]*table.Dest, keys)
		key := func(i int) *table.Packet {
			return pkt(netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}).String(), 0, "198.51.100.1")
		}
		for i := range keys {
			before[i] = s.Schedule(key(i))
		}
		for _, victim := range []int{0, n / 2, n - 1} {
			rest := append(append([]*table.Dest{}, ds[:victim]...), ds[victim+1:]...)
			s.Update(rest)
			moved := 0
			for i := range keys {
				if s.Schedule(key(i)) != before[i] {
					moved++
				}
			}
			frac := float64(moved) / keys
			if frac < 0.5/float64(n) || frac > 2/float64(n) {
				t.Errorf("n=%d removing %d moved %.4f of keys, want about %.4f", n, victim, frac, 1/float64(n))
			}
			s.Update(ds)
		}
	}
}

// With equal weights, mh spreads clients within a few percent.
func TestMHBalance(t *testing.T) {
	const n, keys = 10, 200000
	ws := make([]int, n)
	for i := range ws {
		ws[i] = 7
	}
	ds := mkDests(ws...)
	s := newUpdated(t, model.SchedMH, 0, ds)
	c := countEntries(mhTable(s))
	for _, d := range ds {
		// Each populate round gives every dest one entry: 4093 =
		// 409 × 10 + 3.
		if v := c[label(d)]; v != 409 && v != 410 {
			t.Errorf("%s holds %d entries, want 409 or 410", label(d), v)
		}
	}
	count := map[*table.Dest]int{}
	r := rand.New(rand.NewPCG(7, 8))
	for range keys {
		var b [4]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		count[s.Schedule(pkt(netip.AddrFrom4(b).String(), 0, "198.51.100.1"))]++
	}
	for _, d := range ds {
		dev := float64(count[d])/(keys/n) - 1
		if dev < -0.03 || dev > 0.03 {
			t.Errorf("%s got %d clients, %.1f%% off the mean", label(d), count[d], dev*100)
		}
	}
}
