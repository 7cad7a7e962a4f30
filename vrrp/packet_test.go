package vrrp

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// The vectors' checksums were computed apart from this package, by a
// direct transcription of RFC 5798 §5.2.8 (pseudo-header of RFC 2460 §8.1
// for IPv6, of RFC 768 style for IPv4).
func TestChecksumVectors(t *testing.T) {
	for _, tc := range []struct {
		src, dst string
		a        Advert
		want     string
	}{
		{"192.0.2.1", "224.0.0.18",
			Advert{VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.100")}},
			"3133640100648b71cb007164"},
		{"fe80::1", "ff02::12",
			Advert{VRID: 7, Priority: 255, Interval: 100 * time.Millisecond,
				Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::100"), netip.MustParseAddr("2001:db8::101")}},
			"3107ff02000a744920010db800000000000000000000010020010db8000000000000000000000101"},
	} {
		src, dst := netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst)
		b, err := tc.a.Marshal(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tc.want {
			t.Errorf("%s→%s: %s, want %s", tc.src, tc.dst, got, tc.want)
		}
		a, err := Parse(b, src, dst)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if a.VRID != tc.a.VRID || a.Priority != tc.a.Priority || a.Interval != tc.a.Interval || len(a.Addrs) != len(tc.a.Addrs) {
			t.Errorf("round trip: %+v, want %+v", a, tc.a)
		}
		// The pseudo-header counts: the same bytes to another destination
		// fail, as does any flipped bit.
		if _, err := Parse(b, src, src); err == nil {
			t.Error("accepted under another destination")
		}
		bad := bytes.Clone(b)
		bad[2] ^= 1
		if _, err := Parse(bad, src, dst); err == nil {
			t.Error("accepted a corrupted advert")
		}
	}
}

func TestParseRejects(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), GroupV4
	good, _ := (&Advert{VRID: 1, Priority: 1, Interval: time.Second}).Marshal(src, dst)
	v2 := bytes.Clone(good)
	v2[0] = 0x21
	for name, b := range map[string][]byte{"short": good[:7], "version 2": v2,
		"addresses missing": append([]byte{0x31, 1, 1, 2}, good[4:]...)} {
		if _, err := Parse(b, src, dst); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := (&Advert{Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}).Marshal(src, dst); err == nil {
		t.Error("marshalled an IPv6 address into an IPv4 advert")
	}
}

func TestCentis(t *testing.T) {
	for d, want := range map[time.Duration]uint16{0: 1, 5 * time.Millisecond: 1, 100 * time.Millisecond: 10,
		time.Second: 100, time.Hour: 4095} {
		if got := Centis(d); got != want {
			t.Errorf("Centis(%v) = %d, want %d", d, got, want)
		}
	}
}
