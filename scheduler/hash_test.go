package scheduler

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// The kernel's dh bucket is (x × 2654435761) mod 256. 2654435761 is
// 0x9E3779B1, so only x's low byte matters and the bucket is
// (low byte × 0xB1) mod 256. Hand-computed for the addresses used below:
//
//	x low byte 0x01 (192.0.2.1)    → 177
//	x low byte 0x02 (192.0.2.2)    → 354 mod 256 = 98
//	x low byte 0x03 (192.0.2.3)    → 531 mod 256 = 19
//	x low byte 0x04 (192.0.2.4)    → 708 mod 256 = 196
//	2001:db8::1, folded 0x20010db8^1 = 0x20010db9, low byte 0xb9 (185)
//	                              → 32745 mod 256 = 233
//	2001:db8::1:2, fold 0x20010db8^0x00010002 = 0x20000dba (186)
//	                              → 32922 mod 256 = 154
//	2001:db8:0:5::1, fold 0x20010db8^5^1 = 0x20010dbc (188)
//	                              → 33276 mod 256 = 252

func TestDH(t *testing.T) {
	// Three dests fill the 256 buckets round-robin regardless of weight
	// (ip_vs_dh_reassign): bucket b holds dest b mod 3.
	tests := []struct {
		name string
		dst  string
		want string
	}{
		{"bucket 177", "192.0.2.1", "A"},        // 177 mod 3 = 0
		{"bucket 98", "192.0.2.2", "C"},         // 98 mod 3 = 2
		{"bucket 19", "192.0.2.3", "B"},         // 19 mod 3 = 1
		{"ipv6 fold", "2001:db8::1", "C"},       // 233 mod 3 = 2
		{"ipv6 fold 2", "2001:db8::1:2", "B"},   // 154 mod 3 = 1
		{"ipv6 fold 3", "2001:db8:0:5::1", "A"}, // 252 mod 3 = 0
		{"ipv4-mapped as ipv4", "::ffff:192.0.2.2", "C"},
	}
	s := newSched(t, model.SchedDH, 0)
	s.Update(mkDests(1, 100, 1))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The destination address decides; the source does not.
			for _, src := range []string{"198.51.100.7", "203.0.113.9"} {
				if got := label(s.Schedule(pkt(src, 1234, tc.dst))); got != tc.want {
					t.Errorf("from %s: picked %s, want %s", src, got, tc.want)
				}
			}
		})
	}

	t.Run("unavailable has no fallback", func(t *testing.T) {
		// ip_vs_dh_schedule returns NULL for a weight-0 or overloaded
		// bucket owner instead of looking elsewhere.
		ds := []*table.Dest{mkDest(1, 0, 0), overloaded(2, 1), mkDest(3, 1, 0)}
		s := newSched(t, model.SchedDH, model.FlagFallback)
		s.Update(ds)
		for dst, want := range map[string]string{"192.0.2.1": "-", "192.0.2.3": "-", "192.0.2.2": "C"} {
			if got := label(s.Schedule(pkt("198.51.100.7", 1, dst))); got != want {
				t.Errorf("%s: picked %s, want %s", dst, got, want)
			}
		}
	})

	t.Run("removal reassigns", func(t *testing.T) {
		ds := mkDests(1, 1, 1)
		s := newSched(t, model.SchedDH, 0)
		s.Update(ds)
		s.Update([]*table.Dest{ds[0], ds[2]})
		// Bucket 177 now holds dest 177 mod 2 = 1 of [A C].
		if got := label(s.Schedule(pkt("198.51.100.7", 1, "192.0.2.1"))); got != "C" {
			t.Errorf("picked %s, want C", got)
		}
	})
}

// sh hashes with hash_32(x, 8), the top byte of x × 0x61C88647 (mod
// 2^32). Hand-computed for the sources used below:
//
//	192.0.2.1   0xc0000201 → 50
//	192.0.2.2   0xc0000202 → 148
//	192.0.2.3   0xc0000203 → 246
//	192.0.2.4   0xc0000204 → 88
//	2001:db8::1 fold 0x20010db9 → 63
//	192.0.2.2 + port 255 = 0xc0000301 → 251
//	192.0.2.2 + port 256 = 0xc0000302 → 93
func TestSH(t *testing.T) {
	// Weights 2, 1, 1: ip_vs_sh_reassign gives each dest weight
	// consecutive buckets, cycling, so bucket b holds A for b mod 4 in
	// {0, 1}, B for 2, C for 3.
	tests := []struct {
		name  string
		flags model.SchedFlags
		p     *table.Packet
		want  string
	}{
		{"bucket 50", 0, pkt("192.0.2.1", 9, "198.51.100.1"), "B"},   // 50 mod 4 = 2
		{"bucket 148", 0, pkt("192.0.2.2", 9, "198.51.100.1"), "A"},  // 148 mod 4 = 0
		{"bucket 246", 0, pkt("192.0.2.3", 9, "198.51.100.1"), "B"},  // 246 mod 4 = 2
		{"bucket 88", 0, pkt("192.0.2.4", 9, "198.51.100.1"), "A"},   // 88 mod 4 = 0
		{"ipv6 fold", 0, pkt("2001:db8::1", 9, "2001:db8::80"), "C"}, // 63 mod 4 = 3
		{"destination ignored", 0, pkt("192.0.2.2", 9, "203.0.113.5"), "A"},
		// sh-port adds the source port to the address before hashing:
		// 0xc0000202 + 1 is 192.0.2.3's value, bucket 246.
		{"port added", model.FlagPort, pkt("192.0.2.2", 1, "198.51.100.1"), "B"},
		// Addition, not XOR: 0x02 + 0xff carries into the next byte.
		{"port carries", model.FlagPort, pkt("192.0.2.2", 255, "198.51.100.1"), "C"}, // 251
		{"port 256", model.FlagPort, pkt("192.0.2.2", 256, "198.51.100.1"), "A"},     // 93 mod 4 = 1
		{"port udp", model.FlagPort, &table.Packet{Proto: model.ProtoUDP,
			Src: netip.MustParseAddrPort("192.0.2.2:1"), Dst: netip.MustParseAddrPort("198.51.100.1:53")}, "B"},
		// ip_vs_sh_get_port only reads ports of TCP, UDP and SCTP.
		{"port icmp is 0", model.FlagPort, &table.Packet{Proto: 1,
			Src: netip.MustParseAddrPort("192.0.2.2:1"), Dst: netip.MustParseAddrPort("198.51.100.1:0")}, "A"},
		{"port sctp", model.FlagPort, &table.Packet{Proto: 132,
			Src: netip.MustParseAddrPort("192.0.2.2:1"), Dst: netip.MustParseAddrPort("198.51.100.1:9")}, "B"},
		{"port ignored without flag", 0, pkt("192.0.2.2", 1, "198.51.100.1"), "A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSched(t, model.SchedSH, tc.flags)
			s.Update(mkDests(2, 1, 1))
			if got := label(s.Schedule(tc.p)); got != tc.want {
				t.Errorf("picked %s, want %s", got, tc.want)
			}
		})
	}

	t.Run("weight 0 keeps one bucket", func(t *testing.T) {
		// A=1, B=0, C=1: B still takes a bucket (the kernel moves on
		// once ++count >= weight), so b mod 3 gives A, B, C. Client
		// 192.0.2.2 (bucket 148, 148 mod 3 = 1) lands on B and gets
		// nothing without fallback.
		s := newSched(t, model.SchedSH, 0)
		s.Update(mkDests(1, 0, 1))
		if got := label(s.Schedule(pkt("192.0.2.2", 9, "198.51.100.1"))); got != "-" {
			t.Errorf("picked %s, want -", got)
		}
	})

	t.Run("fallback probes", func(t *testing.T) {
		// ip_vs_sh_get_fallback: probe i uses roffset = (i + ihash)
		// mod 256 and bucket (roffset + ihash) mod 256 for client
		// 192.0.2.2 (ihash 148). Probe 0 is bucket 40 (40 mod 3 = 1,
		// B again); probe 1 is bucket 41 (C); probe 2 is bucket 42 (A).
		cases := []struct {
			weights []int
			want    string
		}{
			{[]int{1, 0, 1}, "C"},
			{[]int{1, 0, 0}, "A"},
			{[]int{0, 0, 0}, "-"},
		}
		for _, c := range cases {
			s := newSched(t, model.SchedSH, model.FlagFallback)
			s.Update(mkDests(c.weights...))
			if got := label(s.Schedule(pkt("192.0.2.2", 9, "198.51.100.1"))); got != c.want {
				t.Errorf("weights %v: picked %s, want %s", c.weights, got, c.want)
			}
		}
		// An overloaded owner is unavailable too.
		s := newSched(t, model.SchedSH, model.FlagFallback)
		s.Update([]*table.Dest{mkDest(1, 1, 0), overloaded(2, 1), mkDest(3, 1, 0)})
		if got := label(s.Schedule(pkt("192.0.2.2", 9, "198.51.100.1"))); got != "C" {
			t.Errorf("overloaded owner: picked %s, want C", got)
		}
	})

	t.Run("weight beyond table", func(t *testing.T) {
		// A weight of 300 fills all 256 buckets before B gets one.
		s := newSched(t, model.SchedSH, 0)
		s.Update(mkDests(300, 1))
		for i := range 256 {
			p := pkt(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String(), 9, "198.51.100.1")
			if got := label(s.Schedule(p)); got != "A" {
				t.Fatalf("client %d: picked %s, want A", i, got)
			}
		}
	})

	t.Run("update reassigns", func(t *testing.T) {
		ds := mkDests(2, 1, 1)
		s := newSched(t, model.SchedSH, 0)
		s.Update(ds)
		// Without B: A A C repeating, bucket 50 mod 3 = 2 -> C.
		s.Update([]*table.Dest{ds[0], ds[2]})
		if got := label(s.Schedule(pkt("192.0.2.1", 9, "198.51.100.1"))); got != "C" {
			t.Errorf("after removal picked %s, want C", got)
		}
		// Weight change: C to 2 gives A A C C, bucket 50 mod 4 = 2 -> C,
		// bucket 148 mod 4 = 0 -> A, bucket 246 mod 4 = 2 -> C.
		ds[2].SetWeight(2)
		s.Update([]*table.Dest{ds[0], ds[2]})
		for src, want := range map[string]string{"192.0.2.1": "C", "192.0.2.2": "A", "192.0.2.3": "C"} {
			if got := label(s.Schedule(pkt(src, 9, "198.51.100.1"))); got != want {
				t.Errorf("after reweight %s picked %s, want %s", src, got, want)
			}
		}
	})
}

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
			s := newSched(t, model.SchedMH, 0)
			s.Update(mkDests(tc.weights...))
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
		s := newSched(t, model.SchedMH, flags)
		s.Update(ds)
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
	s2 := newSched(t, model.SchedMH, 0)
	s2.Update(added)
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

// Properties shared by the hashing schedulers: the same key always gets
// the same server, across calls and across scheduler instances.
func TestHashingStable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, name := range []model.Scheduler{model.SchedDH, model.SchedSH, model.SchedMH} {
		for _, flags := range []model.SchedFlags{0, model.FlagPort} {
			ds := mkDests(3, 1, 4, 1, 5, 9, 2, 6)
			s1, s2 := newSched(t, name, flags), newSched(t, name, flags)
			s1.Update(ds)
			s2.Update(ds)
			for range 2000 {
				var b [16]byte
				for i := range b {
					b[i] = byte(r.IntN(256))
				}
				a := netip.AddrFrom16(b)
				if r.IntN(2) == 0 {
					a = netip.AddrFrom4([4]byte(b[:4]))
				}
				p := &table.Packet{Proto: model.ProtoTCP, Src: netip.AddrPortFrom(a, uint16(r.IntN(65536))), Dst: netip.AddrPortFrom(a, 80)}
				d := s1.Schedule(p)
				if d == nil {
					t.Fatalf("%s: nil pick", name)
				}
				if s1.Schedule(p) != d || s2.Schedule(p) != d {
					t.Fatalf("%s flags %d: key %v not stable", name, flags, p.Src)
				}
			}
		}
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
		s := newSched(t, model.SchedMH, 0)
		s.Update(ds)
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
	s := newSched(t, model.SchedMH, 0)
	s.Update(ds)
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
