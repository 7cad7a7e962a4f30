package config

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"github.com/govs/govs/model"
)

// errNotInt is what parseInt returns for text that is not a number at all;
// callers turn it into Piranha's "integer expected".
var errNotInt = errors.New("integer expected")

// parseInt reads an integer the way C's strtol(s, &end, 0) does and Piranha
// required (no trailing garbage): an optional sign, then 0x/0X hex, a
// leading 0 for octal, or decimal. strconv's base 0 also takes 0b, 0o and
// underscores, which strtol does not, so this is done by hand.
func parseInt(s string) (int64, error) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	switch {
	case len(s) > i+2 && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && isDigit(s[i+2], 16):
		base = 16
		i += 2
	case len(s) > i+1 && s[i] == '0':
		base = 8
		i++
	}
	if i >= len(s) {
		return 0, errNotInt
	}
	var v uint64
	for ; i < len(s); i++ {
		d, ok := digitVal(s[i])
		if !ok || d >= base {
			return 0, errNotInt
		}
		hi, lo := bits.Mul64(v, base)
		if hi != 0 || lo+d < lo || lo+d > math.MaxInt64+1 {
			return 0, errRange
		}
		v = lo + d
	}
	if neg {
		return -int64(v), nil
	}
	if v > math.MaxInt64 {
		return 0, errRange
	}
	return int64(v), nil
}

var errRange = errors.New("integer out of range")

func digitVal(c byte) (uint64, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint64(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

func isDigit(c byte, base uint64) bool {
	d, ok := digitVal(c)
	return ok && d < base
}

// intIn reads an integer and checks it lies in [lo, hi].
func intIn(s string, lo, hi int64) (int64, error) {
	v, err := parseInt(s)
	if err == errNotInt {
		return 0, fmt.Errorf("integer expected, got %q", s)
	}
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%s out of range (%d-%d)", s, lo, hi)
	}
	return v, nil
}

// parseBool reads Piranha's booleans: an integer that must be 0 or 1.
func parseBool(s string) (bool, error) {
	v, err := parseInt(s)
	if err != nil || (v != 0 && v != 1) {
		return false, fmt.Errorf("boolean expected (0 or 1), got %q", s)
	}
	return v == 1, nil
}

// ParsePort reads a port as lvs.cf writes it: a number (strtol syntax,
// 0-65535) or a well-known service name such as "http". The health checker
// uses it for the check_port and agent_port extensions, so both packages
// agree on what a port is.
func ParsePort(s string) (uint16, error) {
	v, err := parseInt(s)
	if err == nil {
		if v < 0 || v > 65535 {
			return 0, fmt.Errorf("port %s out of range (0-65535)", s)
		}
		return uint16(v), nil
	}
	if err == errRange {
		return 0, fmt.Errorf("port %s out of range (0-65535)", s)
	}
	if p, ok := model.LookupPort(s); ok {
		return p, nil
	}
	return 0, fmt.Errorf("port number or known service name expected, got %q", s)
}

// hostResult is an address read from lvs.cf, with a note when the text was
// an inet_aton shorthand that reads differently from how it looks.
type hostResult struct {
	addr netip.Addr
	note string
}

// parseHost reads an IP literal. Piranha also resolved host names; govs
// does not, because a router whose addresses depend on DNS at start-up
// fails exactly when the network is in trouble. inet_aton's forms
// ("10.1", "010.0.0.1" in octal) are accepted as Piranha read them, with a
// note so the surprise is visible.
func parseHost(s string) (hostResult, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return hostResult{}, fmt.Errorf("address %q must not have a zone", s)
		}
		return hostResult{addr: a.Unmap()}, nil
	}
	if a, ok := inetAton(s); ok {
		return hostResult{addr: a, note: fmt.Sprintf("%q is read as %s (inet_aton form); write %s", s, a, a)}, nil
	}
	if looksLikeHostname(s) {
		return hostResult{}, fmt.Errorf("%q is a host name; govs needs an IP address (it does not resolve names)", s)
	}
	return hostResult{}, fmt.Errorf("invalid host name or ip address %q", s)
}

func looksLikeHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return letter
}

// inetAton implements inet_aton(3): one to four parts, each a strtoul
// number in base 0, the last filling the remaining bytes.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		if p == "" || p[0] == '-' || p[0] == '+' {
			return netip.Addr{}, false
		}
		v, err := parseInt(p)
		if err != nil || v < 0 || v > math.MaxUint32 {
			return netip.Addr{}, false
		}
		vals = append(vals, uint64(v))
	}
	n := len(vals)
	for _, v := range vals[:n-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
	}
	if vals[n-1] >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	var u uint32
	for i, v := range vals[:n-1] {
		u |= uint32(v) << (24 - 8*i)
	}
	u |= uint32(vals[n-1])
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}), true
}

// maskResult is a netmask read from lvs.cf: the prefix length, and whether
// it was written as a dotted quad (which is IPv4-only in meaning) and was
// the all-ones mask.
type maskResult struct {
	bits   int
	dotted bool
	ones   bool
}

// parseMask reads a netmask: a contiguous dotted quad as Piranha wrote
// (via inet_aton), or a bare prefix length, govs's spelling for IPv6 where
// a dotted quad cannot express the mask. A bare number cannot be confused
// with a Piranha value: inet_aton would have read "24" as 0.0.0.24, a mask
// nobody meant.
func parseMask(s string) (maskResult, error) {
	if s != "" && s[0] >= '0' && s[0] <= '9' && !strings.Contains(s, ".") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 128 {
			return maskResult{}, fmt.Errorf("Bad subnet mask specified: %q (want a dotted quad or a prefix length 0-128)", s)
		}
		return maskResult{bits: n}, nil
	}
	a, ok := inetAton(s)
	if !ok {
		return maskResult{}, fmt.Errorf("Bad subnet mask specified: %q", s)
	}
	b := a.As4()
	u := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := bits.LeadingZeros32(^u)
	if n < 32 && u<<n != 0 {
		return maskResult{}, fmt.Errorf("Bad subnet mask specified: %q is not contiguous", s)
	}
	return maskResult{bits: n, dotted: true, ones: n == 32}, nil
}

// dottedMask renders an IPv4 prefix length as a dotted quad.
func dottedMask(n int) string {
	u := uint32(0)
	if n > 0 {
		u = ^uint32(0) << (32 - n)
	}
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}).String()
}

// familyBits is the address length of a family.
func familyBits(f int) int {
	if f == 6 {
		return 128
	}
	return 32
}
