package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is VRRP's IP protocol number.
const Protocol = 112

// The groups VRRP adverts are multicast to (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	GroupV4 = netip.MustParseAddr("224.0.0.18")
	GroupV6 = netip.MustParseAddr("ff02::12")
)

// Advert is a VRRPv3 advertisement (RFC 5798 §5.2).
type Advert struct {
	// VRID is the virtual router id, 1-255.
	VRID uint8
	// Priority is the sender's priority: 0 announces that the master is
	// stopping, 255 that it owns the addresses.
	Priority uint8
	// Interval is the sender's advertisement interval; the wire carries
	// whole centiseconds in 12 bits.
	Interval time.Duration
	// Addrs are the virtual addresses, all of one family.
	Addrs []netip.Addr
}

const (
	headerLen   = 8
	versionType = 3<<4 | 1 // version 3, type 1 (ADVERTISEMENT)
	maxCentis   = 1<<12 - 1
)

// Centis converts an interval to the wire's centiseconds, clamped to the
// 12 bits there are and at least 1, since 0 would make a backup declare the
// master dead at once.
func Centis(d time.Duration) uint16 {
	c := d / (10 * time.Millisecond)
	if c < 1 {
		c = 1
	}
	if c > maxCentis {
		c = maxCentis
	}
	return uint16(c)
}

// Marshal encodes the advert as sent from src to dst, both of which enter
// the checksum through the pseudo-header.
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	v6 := src.Is6() && !src.Is4In6()
	alen := 4
	if v6 {
		alen = 16
	}
	if len(a.Addrs) > 255 {
		return nil, errors.New("vrrp: more than 255 addresses")
	}
	b := make([]byte, headerLen+alen*len(a.Addrs))
	b[0] = versionType
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = uint8(len(a.Addrs))
	binary.BigEndian.PutUint16(b[4:], Centis(a.Interval))
	for i, ad := range a.Addrs {
		ad = ad.Unmap()
		if ad.Is6() != v6 {
			return nil, fmt.Errorf("vrrp: address %s is not of the family of %s", ad, src)
		}
		copy(b[headerLen+i*alen:], ad.AsSlice())
	}
	binary.BigEndian.PutUint16(b[6:], Checksum(b, src, dst))
	return b, nil
}

// Parse decodes an advert received from src for dst and verifies its
// version, type, length and checksum.
func Parse(b []byte, src, dst netip.Addr) (*Advert, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("vrrp: short packet (%d bytes)", len(b))
	}
	if b[0] != versionType {
		return nil, fmt.Errorf("vrrp: version %d type %d, want version 3 type 1", b[0]>>4, b[0]&15)
	}
	src = src.Unmap()
	alen := 4
	if src.Is6() {
		alen = 16
	}
	n := int(b[3])
	if len(b) < headerLen+n*alen {
		return nil, fmt.Errorf("vrrp: %d addresses announced, %d bytes carried", n, len(b)-headerLen)
	}
	b = b[:headerLen+n*alen]
	if c := Checksum(b, src, dst); c != 0 {
		return nil, fmt.Errorf("vrrp: bad checksum")
	}
	a := &Advert{VRID: b[1], Priority: b[2],
		Interval: time.Duration(binary.BigEndian.Uint16(b[4:])&maxCentis) * 10 * time.Millisecond}
	for i := range n {
		ad, _ := netip.AddrFromSlice(b[headerLen+i*alen : headerLen+(i+1)*alen])
		a.Addrs = append(a.Addrs, ad)
	}
	return a, nil
}

// Checksum is the Internet checksum of msg under the pseudo-header of RFC
// 5798 §5.2.8: source, destination, upper-layer length and protocol 112,
// for IPv4 as for IPv6 (VRRPv2 had none for IPv4; v3 added it, and routers
// that skip it are not interoperable). Over a message carrying its own
// checksum the result is 0.
func Checksum(msg []byte, src, dst netip.Addr) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.Unmap().AsSlice(), dst.Unmap().AsSlice()
	add(s)
	add(d)
	sum += uint32(len(msg)) >> 16
	sum += uint32(len(msg)) & 0xffff
	sum += Protocol
	add(msg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
