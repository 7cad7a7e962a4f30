package scheduler

import (
	"fmt"
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
	s := newUpdated(t, model.SchedDH, 0, mkDests(1, 100, 1))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The destination address decides; the source does not.
			for _, src := range []string{"198.51.100.7", "203.0.113.9"} {
				wantPick(t, s, pkt(src, 1234, tc.dst), tc.want, fmt.Sprintf("from %s", src))
			}
		})
	}

	t.Run("unavailable has no fallback", func(t *testing.T) {
		// ip_vs_dh_schedule returns NULL for a weight-0 or overloaded
		// bucket owner instead of looking elsewhere.
		ds := []*table.Dest{mkDest(1, 0, 0), overloaded(2, 1), mkDest(3, 1, 0)}
		s := newUpdated(t, model.SchedDH, model.FlagFallback, ds)
		for dst, want := range map[string]string{"192.0.2.1": "-", "192.0.2.3": "-", "192.0.2.2": "C"} {
			wantPick(t, s, pkt("198.51.100.7", 1, dst), want, dst)
		}
	})

	t.Run("removal reassigns", func(t *testing.T) {
		ds := mkDests(1, 1, 1)
		s := newUpdated(t, model.SchedDH, 0, ds)
		s.Update([]*table.Dest{ds[0], ds[2]})
		// Bucket 177 now holds dest 177 mod 2 = 1 of [A C].
		wantPick(t, s, pkt("198.51.100.7", 1, "192.0.2.1"), "C", "")
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
			s := newUpdated(t, model.SchedSH, tc.flags, mkDests(2, 1, 1))
			wantPick(t, s, tc.p, tc.want, "")
		})
	}

	t.Run("weight 0 keeps one bucket", func(t *testing.T) {
		// A=1, B=0, C=1: B still takes a bucket (the kernel moves on
		// once ++count >= weight), so b mod 3 gives A, B, C. Client
		// 192.0.2.2 (bucket 148, 148 mod 3 = 1) lands on B and gets
		// nothing without fallback.
		s := newUpdated(t, model.SchedSH, 0, mkDests(1, 0, 1))
		wantPick(t, s, pkt("192.0.2.2", 9, "198.51.100.1"), "-", "")
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
			s := newUpdated(t, model.SchedSH, model.FlagFallback, mkDests(c.weights...))
			wantPick(t, s, pkt("192.0.2.2", 9, "198.51.100.1"), c.want, fmt.Sprintf("weights %v", c.weights))
		}
		// An overloaded owner is unavailable too.
		s := newUpdated(t, model.SchedSH, model.FlagFallback, []*table.Dest{mkDest(1, 1, 0), overloaded(2, 1), mkDest(3, 1, 0)})
		wantPick(t, s, pkt("192.0.2.2", 9, "198.51.100.1"), "C", "overloaded owner")
	})

	t.Run("weight beyond table", func(t *testing.T) {
		// A weight of 300 fills all 256 buckets before B gets one.
		s := newUpdated(t, model.SchedSH, 0, mkDests(300, 1))
		for i := range 256 {
			p := pkt(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String(), 9, "198.51.100.1")
			if got := label(s.Schedule(p)); got != "A" {
				t.Fatalf("client %d: picked %s, want A", i, got)
			}
		}
	})

	t.Run("update reassigns", func(t *testing.T) {
		ds := mkDests(2, 1, 1)
		s := newUpdated(t, model.SchedSH, 0, ds)
		// Without B: A A C repeating, bucket 50 mod 3 = 2 -> C.
		s.Update([]*table.Dest{ds[0], ds[2]})
		wantPick(t, s, pkt("192.0.2.1", 9, "198.51.100.1"), "C", "after removal")
		// Weight change: C to 2 gives A A C C, bucket 50 mod 4 = 2 -> C,
		// bucket 148 mod 4 = 0 -> A, bucket 246 mod 4 = 2 -> C.
		ds[2].SetWeight(2)
		s.Update([]*table.Dest{ds[0], ds[2]})
		for src, want := range map[string]string{"192.0.2.1": "C", "192.0.2.2": "A", "192.0.2.3": "C"} {
			wantPick(t, s, pkt(src, 9, "198.51.100.1"), want, fmt.Sprintf("after reweight %s", src))
		}
	})
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
