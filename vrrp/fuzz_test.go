package vrrp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// fuzzPeers are the (source, destination) pairs the targets pick from: the
// multicast groups and unicast peers of both families, and an IPv4-mapped
// source, which Parse must treat as IPv4.
var fuzzPeers = [][2]netip.Addr{
	{netip.MustParseAddr("192.0.2.1"), GroupV4},
	{netip.MustParseAddr("fe80::1"), GroupV6},
	{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")},
	{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")},
	{netip.MustParseAddr("::ffff:192.0.2.1"), GroupV4},
}

func addrLen(src netip.Addr) int {
	if src.Unmap().Is4() {
		return 4
	}
	return 16
}

// FuzzParse feeds arbitrary bytes to Parse. What it accepts must say what
// its bytes say, and Marshal must give those bytes back: the header fields
// as sent, the addresses in order, and a checksum that verifies. The bytes
// may differ only where the wire has two spellings of one advert: the four
// reserved bits beside the interval, an interval of 0 (Marshal sends at
// least 1), and a checksum of 0x0000 against 0xffff, which one's
// complement arithmetic cannot tell apart.
func FuzzParse(f *testing.F) {
	for i, p := range fuzzPeers {
		var addrs []netip.Addr
		for k := range i % 3 {
			if addrLen(p[0]) == 4 {
				addrs = append(addrs, netip.AddrFrom4([4]byte{203, 0, 113, byte(k)}))
			} else {
				addrs = append(addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(k)}))
			}
		}
		b, err := (&Advert{VRID: 51, Priority: 100, Interval: time.Second, Addrs: addrs}).Marshal(p[0], p[1])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
		f.Add(append(b, 0xde, 0xad), uint8(i)) // trailing bytes are ignored
	}
	f.Add([]byte{0x31, 1, 1, 0, 0, 0}, uint8(0))
	f.Add([]byte{0x21, 1, 1, 0, 0, 100, 0, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, peer uint8) {
		p := fuzzPeers[int(peer)%len(fuzzPeers)]
		src, dst := p[0], p[1]
		a, err := Parse(b, src, dst)
		if err != nil {
			if a != nil {
				t.Fatal("advert returned with an error")
			}
			return
		}
		alen := addrLen(src)
		n := int(b[3])
		msg := b[:headerLen+n*alen]
		if a.VRID != b[1] || a.Priority != b[2] || len(a.Addrs) != n {
			t.Fatalf("header %x decoded as %+v", b[:4], a)
		}
		centis := binary.BigEndian.Uint16(b[4:]) & maxCentis
		if a.Interval != time.Duration(centis)*10*time.Millisecond {
			t.Fatalf("interval field %x decoded as %v", b[4:6], a.Interval)
		}
		for i, ad := range a.Addrs {
			want := msg[headerLen+i*alen : headerLen+(i+1)*alen]
			if !ad.IsValid() || ad.Zone() != "" || !bytes.Equal(ad.AsSlice(), want) {
				t.Fatalf("address %d: %v from %x", i, ad, want)
			}
		}
		out, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Marshal of a parsed advert: %v", err)
		}
		if Checksum(out, src, dst) != 0 {
			t.Fatalf("Marshal wrote a bad checksum: %x", out)
		}
		want := bytes.Clone(msg)
		want[4] &= 0x0f
		if centis == 0 {
			binary.BigEndian.PutUint16(want[4:], 1)
		}
		same := func(x, y []byte) bool {
			x, y = bytes.Clone(x), bytes.Clone(y)
			x[6], x[7], y[6], y[7] = 0, 0, 0, 0
			return bytes.Equal(x, y)
		}
		if !same(out, want) {
			t.Fatalf("Marshal(Parse(b)):\n got %x\nwant %x", out, want)
		}
		if c, w := binary.BigEndian.Uint16(out[6:]), binary.BigEndian.Uint16(msg[6:]); c != w && want[4] == msg[4] &&
			centis != 0 && !(c == 0 && w == 0xffff || c == 0xffff && w == 0) {
			t.Fatalf("checksum %04x for a packet that carried %04x", c, w)
		}
		back, err := Parse(out, src, dst)
		if err != nil {
			t.Fatalf("Parse(Marshal(a)): %v", err)
		}
		if centis != 0 && !sameAdvert(back, a) {
			t.Fatalf("Parse(Marshal(a)) = %+v, want %+v", back, a)
		}
	})
}

func sameAdvert(x, y *Advert) bool {
	if x.VRID != y.VRID || x.Priority != y.Priority || x.Interval != y.Interval || len(x.Addrs) != len(y.Addrs) {
		return false
	}
	for i := range x.Addrs {
		if x.Addrs[i] != y.Addrs[i] {
			return false
		}
	}
	return true
}

// FuzzMarshal builds adverts from arbitrary fields: Parse must give each
// back as sent (the interval as the wire's centiseconds), and must refuse
// it with any one bit flipped or under another destination, which the
// checksum's pseudo-header covers.
func FuzzMarshal(f *testing.F) {
	f.Add(uint8(51), uint8(100), uint16(100), []byte{203, 0, 113, 100}, uint8(0), uint16(17))
	f.Add(uint8(7), uint8(255), uint16(10), bytes.Repeat([]byte{0x20, 0x01, 0x0d, 0xb8}, 8), uint8(1), uint16(3))
	f.Add(uint8(1), uint8(0), uint16(0), []byte{}, uint8(4), uint16(0))
	f.Add(uint8(255), uint8(1), uint16(65535), bytes.Repeat([]byte{0xff}, 64), uint8(3), uint16(200))
	f.Fuzz(func(t *testing.T, vrid, prio uint8, centis uint16, raw []byte, peer uint8, flip uint16) {
		p := fuzzPeers[int(peer)%len(fuzzPeers)]
		src, dst := p[0], p[1]
		alen := addrLen(src)
		a := &Advert{VRID: vrid, Priority: prio, Interval: time.Duration(centis) * 10 * time.Millisecond}
		for len(raw) >= alen && len(a.Addrs) < 255 {
			ad, _ := netip.AddrFromSlice(raw[:alen])
			a.Addrs = append(a.Addrs, ad)
			raw = raw[alen:]
		}
		b, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if len(b) != headerLen+alen*len(a.Addrs) {
			t.Fatalf("%d bytes for %d addresses", len(b), len(a.Addrs))
		}
		back, err := Parse(b, src, dst)
		if err != nil {
			t.Fatalf("Parse(Marshal(a)): %v", err)
		}
		want := *a
		want.Interval = time.Duration(Centis(a.Interval)) * 10 * time.Millisecond
		if !sameAdvert(back, &want) {
			t.Fatalf("Parse(Marshal(a)) = %+v, want %+v", back, &want)
		}
		if other := fuzzPeers[(int(peer)+2)%len(fuzzPeers)]; other[0].Unmap().Is4() == src.Unmap().Is4() && other[1] != dst {
			if _, err := Parse(b, src, other[1]); err == nil {
				t.Fatalf("accepted under destination %v as well as %v", other[1], dst)
			}
		}
		// The count byte is left alone: changing it changes how much the
		// checksum covers, which may happen to verify.
		bit := int(flip) % (len(b) * 8)
		if bit/8 == 3 {
			return
		}
		bad := bytes.Clone(b)
		bad[bit/8] ^= 1 << (bit % 8)
		if _, err := Parse(bad, src, dst); err == nil {
			t.Fatalf("accepted with bit %d flipped: %x", bit, bad)
		}
	})
}
