package scheduler

import (
	"encoding/binary"
	"math/bits"
)

// sipKey is the kernel's siphash_key_t / hsiphash_key_t on 64-bit: two
// 64-bit words.
type sipKey [2]uint64

// sipRound is SIPROUND of lib/siphash.c.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sipHash is SipHash-c-d over data with key k, as lib/siphash.c computes
// it: little-endian 64-bit message words, the length in the top byte of the
// last word. SipHash-2-4 is the kernel's siphash(); SipHash-1-3 truncated to
// 32 bits is its hsiphash() on 64-bit machines. It is general, for tests
// and table builds; the hot path uses hsiphash32.
func sipHash(c, d int, k sipKey, data []byte) uint64 {
	v0 := uint64(0x736f6d6570736575) ^ k[0]
	v1 := uint64(0x646f72616e646f6d) ^ k[1]
	v2 := uint64(0x6c7967656e657261) ^ k[0]
	v3 := uint64(0x7465646279746573) ^ k[1]
	b := uint64(len(data)) << 56
	for len(data) >= 8 {
		m := binary.LittleEndian.Uint64(data)
		v3 ^= m
		for range c {
			v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		}
		v0 ^= m
		data = data[8:]
	}
	for i, x := range data {
		b |= uint64(x) << (8 * i)
	}
	v3 ^= b
	for range c {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	v0 ^= b
	v2 ^= 0xff
	for range d {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// hsiphash32 is the kernel's hsiphash(&v, sizeof(v), key) for a 32-bit v on
// a 64-bit little-endian machine (x86-64, arm64): SipHash-1-3 of the four
// bytes of v in memory order, truncated to 32 bits (lib/siphash.c,
// HPREAMBLE/HPOSTAMBLE with HSIPROUND = SIPROUND). It is what ip_vs_mh.c
// hashes, unrolled so the scheduling path does not allocate.
func hsiphash32(v uint32, k *sipKey) uint32 {
	v0 := uint64(0x736f6d6570736575) ^ k[0]
	v1 := uint64(0x646f72616e646f6d) ^ k[1]
	v2 := uint64(0x6c7967656e657261) ^ k[0]
	v3 := uint64(0x7465646279746573) ^ k[1]
	b := uint64(4)<<56 | uint64(v)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}
