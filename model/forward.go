package model

import (
	"fmt"
	"strings"
)

// Forward is a real server's forwarding method.
type Forward uint8

// Forwarding methods. The zero value means "not set here": a real server
// then uses the router-wide `network` setting.
const (
	ForwardDefault Forward = iota
	ForwardNAT             // masquerading: ipvsadm -m, lvs.cf "nat"
	ForwardDR              // direct routing: ipvsadm -g, lvs.cf "direct"
	ForwardTUN             // IP tunnelling: ipvsadm -i, lvs.cf "tunnel"
)

// String returns the lvs.cf spelling.
func (f Forward) String() string {
	switch f {
	case ForwardNAT:
		return "nat"
	case ForwardDR:
		return "direct"
	case ForwardTUN:
		return "tunnel"
	}
	return ""
}

// IPVSName returns the name ipvsadm -L prints in its Forward column.
func (f Forward) IPVSName() string {
	switch f {
	case ForwardNAT:
		return "Masq"
	case ForwardDR:
		return "Route"
	case ForwardTUN:
		return "Tunnel"
	}
	return "Masq"
}

// ParseForward reads nat, direct or tunnel.
func ParseForward(s string) (Forward, error) {
	switch strings.ToLower(s) {
	case "nat":
		return ForwardNAT, nil
	case "direct":
		return ForwardDR, nil
	case "tunnel":
		return ForwardTUN, nil
	}
	return 0, fmt.Errorf("unknown network type %q (want nat, direct or tunnel)", s)
}

// TunnelType is the encapsulation of a tunnel-mode real server.
type TunnelType uint8

// Tunnel types the kernel offers.
const (
	TunnelIPIP TunnelType = iota
	TunnelGUE
	TunnelGRE
)

// String returns the lvs.cf spelling.
func (t TunnelType) String() string {
	switch t {
	case TunnelGUE:
		return "gue"
	case TunnelGRE:
		return "gre"
	}
	return "ipip"
}

// ParseTunnelType reads ipip, gue or gre.
func ParseTunnelType(s string) (TunnelType, error) {
	switch strings.ToLower(s) {
	case "ipip":
		return TunnelIPIP, nil
	case "gue":
		return TunnelGUE, nil
	case "gre":
		return TunnelGRE, nil
	}
	return 0, fmt.Errorf("unknown tunnel type %q (want ipip, gue or gre)", s)
}
