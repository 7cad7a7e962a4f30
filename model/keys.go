package model

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Proto is an IP protocol number as IPVS uses it.
type Proto uint8

// The protocols a virtual service can carry. ProtoIP is what IPVS records in
// the key of a firewall-mark service and its persistence templates, since one
// mark can bundle TCP and UDP alike.
const (
	ProtoIP  Proto = 0
	ProtoTCP Proto = 6
	ProtoUDP Proto = 17
)

// String returns the ipvsadm spelling: TCP, UDP, or IP for marks.
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoIP:
		return "IP"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// ParseProto reads "tcp" or "udp" in any case.
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want tcp or udp)", s)
}

// Family is an address family: 4 or 6.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a, treating IPv4-mapped IPv6 as IPv4.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// ServiceKey identifies a virtual service the way IPVS does: either
// (protocol, VIP, port), or (family, firewall mark) when FWMark is non-zero,
// in which case Proto, Addr and Port are zero. It is comparable.
type ServiceKey struct {
	Proto  Proto      `json:"protocol"`
	Addr   netip.Addr `json:"address,omitzero"`
	Port   uint16     `json:"port"`
	FWMark uint32     `json:"fwmark,omitempty"`
	Family Family     `json:"family,omitempty"` // only set for mark services; Addr carries it otherwise
}

// TCPKey returns the key of a TCP service.
func TCPKey(ap netip.AddrPort) ServiceKey {
	return ServiceKey{Proto: ProtoTCP, Addr: ap.Addr().Unmap(), Port: ap.Port()}
}

// UDPKey returns the key of a UDP service.
func UDPKey(ap netip.AddrPort) ServiceKey {
	return ServiceKey{Proto: ProtoUDP, Addr: ap.Addr().Unmap(), Port: ap.Port()}
}

// MarkKey returns the key of a firewall-mark service.
func MarkKey(f Family, mark uint32) ServiceKey {
	return ServiceKey{FWMark: mark, Family: f}
}

// IsMark reports whether the key names a firewall-mark service.
func (k ServiceKey) IsMark() bool { return k.FWMark != 0 }

// AddrFamily returns the service's address family.
func (k ServiceKey) AddrFamily() Family {
	if k.IsMark() {
		if k.Family == 0 {
			return IPv4
		}
		return k.Family
	}
	return FamilyOf(k.Addr)
}

// String renders the key as ipvsadm lists it: "TCP  192.0.2.1:80",
// "UDP  [2001:db8::1]:53" or "FWM  80" (with " IPv6" for an IPv6 mark).
func (k ServiceKey) String() string {
	if k.IsMark() {
		s := "FWM  " + strconv.FormatUint(uint64(k.FWMark), 10)
		if k.AddrFamily() == IPv6 {
			s += " IPv6"
		}
		return s
	}
	return k.Proto.String() + "  " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// ParseServiceKey reads a key written tcp:VIP:PORT, udp:VIP:PORT (IPv6 as
// tcp:[2001:db8::1]:80) or fwm:MARK, with fwm:MARK:6 for an IPv6 mark.
func ParseServiceKey(s string) (ServiceKey, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return ServiceKey{}, fmt.Errorf("service key %q: want tcp:VIP:PORT, udp:VIP:PORT or fwm:MARK", s)
	}
	switch strings.ToLower(kind) {
	case "tcp", "udp":
		ap, err := netip.ParseAddrPort(rest)
		if err != nil {
			return ServiceKey{}, fmt.Errorf("service key %q: %v", s, err)
		}
		if strings.EqualFold(kind, "tcp") {
			return TCPKey(ap), nil
		}
		return UDPKey(ap), nil
	case "fwm":
		num, fam, _ := strings.Cut(rest, ":")
		m, err := strconv.ParseUint(num, 0, 32)
		if err != nil || m == 0 {
			return ServiceKey{}, fmt.Errorf("service key %q: bad mark %q", s, num)
		}
		f := IPv4
		switch fam {
		case "", "4":
		case "6":
			f = IPv6
		default:
			return ServiceKey{}, fmt.Errorf("service key %q: family %q is not 4 or 6", s, fam)
		}
		return MarkKey(f, uint32(m)), nil
	}
	return ServiceKey{}, fmt.Errorf("service key %q: want tcp:, udp: or fwm:", s)
}

// DestKey identifies a real server inside a service: address and port.
type DestKey struct {
	Addr netip.Addr `json:"address"`
	Port uint16     `json:"port"`
}

// String renders "198.51.100.2:80" or "[2001:db8::2]:80".
func (k DestKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }
