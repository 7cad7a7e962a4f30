package model

import "slices"

// Capabilities is what a data plane can carry. Each plane declares its
// own once, beside its code (the Capabilities of dataplane/proxy and
// dataplane/ipvs), and config.CheckPlane holds a configuration against
// it; nothing else decides what a plane can do, and no other code asks
// for a plane by its name.
type Capabilities struct {
	// Name is the plane's name as lvs.cf's dataplane keyword spells it.
	Name string
	// Title names the plane in the log ("userspace proxy", "kernel
	// IPVS"), Label in findings ("the proxy data plane", "IPVS"); Needs
	// says what a host needs to run it, where that is not any host.
	Title, Label, Needs string
	// Forwarding lists the forwarding methods the plane carries.
	Forwarding []Forward
	// MixedFamilies lists the methods with which it forwards IPv4
	// clients to IPv6 real servers and back.
	MixedFamilies []Forward
	// ProxyProtocol: real servers may get a PROXY protocol header.
	ProxyProtocol bool
	// MaxConns and ServiceMaxConns: the global and the per-service
	// max_conns bounds.
	MaxConns, ServiceMaxConns bool
	// Why tells the operator, for each thing above the plane lacks, why
	// and what to do, keyed by the keyword concerned (network,
	// proxy_protocol, max_conns, service max_conns, families).
	Why map[string]string
}

// Forwards reports whether the plane carries forwarding method f.
func (c Capabilities) Forwards(f Forward) bool { return slices.Contains(c.Forwarding, f) }

// Mixes reports whether the plane forwards between address families
// with method f.
func (c Capabilities) Mixes(f Forward) bool { return slices.Contains(c.MixedFamilies, f) }
