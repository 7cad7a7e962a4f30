package ipvs

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/govs/govs/model"
)

// Step is one change a real server needs for direct routing or tunnelling.
type Step struct {
	// Desc says what the step is for.
	Desc string
	// Command is what an operator would type for it.
	Command string
	do      func() error
}

// RealServerSetup lists what a real server needs before a direct-routing
// or tunnelling router can send it the VIP's traffic: the VIP configured
// locally (on lo for direct routing, on the ipip fallback device tunl0, or
// ip6tnl0 for IPv6, for tunnelling) so that it accepts those packets, the
// ARP sysctls that keep it from answering ARP for the VIP (the router must
// stay the only one that does), and, for tunnels, reverse-path filtering off
// so decapsulated packets are not dropped. NAT real servers need none of
// this, only their default route through the router's nat_router address.
func RealServerSetup(mode model.Forward, vip netip.Addr) ([]Step, error) {
	vip = vip.Unmap()
	if !vip.IsValid() {
		return nil, errors.New("realserver setup: a VIP is needed")
	}
	v6 := vip.Is6()
	bits := 32
	if v6 {
		bits = 128
	}
	var steps []Step
	dev, kind := "lo", ""
	switch mode {
	case model.ForwardDR:
	case model.ForwardTUN:
		dev, kind = "tunl0", "ipip"
		if v6 {
			dev, kind = "ip6tnl0", "ip6tnl"
		}
		steps = append(steps, Step{
			Desc:    "create the " + kind + " fallback device " + dev + " that receives the router's encapsulated packets",
			Command: "ip link add " + dev + " type " + kind + "  # if missing: loading the module creates it",
			do:      func() error { return ensureTunnelDevice(dev, kind) },
		}, Step{
			Desc:    "bring " + dev + " up",
			Command: "ip link set " + dev + " up",
			do:      func() error { return linkUp(dev) },
		})
	case model.ForwardNAT:
		return nil, errors.New("realserver setup: NAT real servers need no setup beyond a default route via the router's nat_router address")
	default:
		return nil, fmt.Errorf("realserver setup: unknown mode %v (want direct or tunnel)", mode)
	}
	pfx := netip.PrefixFrom(vip, bits)
	famFlag := ""
	if v6 {
		famFlag = "-6 "
	}
	steps = append(steps, Step{
		Desc:    "accept packets for the VIP: configure it on " + dev,
		Command: "ip " + famFlag + "addr add " + pfx.String() + " dev " + dev,
		do:      func() error { return addAddr(dev, pfx) },
	})
	if !v6 {
		steps = append(steps,
			sysctlStep("answer ARP only for addresses of the receiving interface, never for the VIP", "net.ipv4.conf.all.arp_ignore", "1"),
			sysctlStep("answer ARP only for addresses of the receiving interface, never for the VIP", "net.ipv4.conf."+dev+".arp_ignore", "1"),
			sysctlStep("never use the VIP as the source of ARP requests", "net.ipv4.conf.all.arp_announce", "2"),
			sysctlStep("never use the VIP as the source of ARP requests", "net.ipv4.conf."+dev+".arp_announce", "2"))
		if mode == model.ForwardTUN {
			steps = append(steps,
				sysctlStep("accept decapsulated packets whose client is not routed via "+dev+" (the kernel uses the larger of all and the interface)", "net.ipv4.conf.all.rp_filter", "0"),
				sysctlStep("accept decapsulated packets whose client is not routed via "+dev, "net.ipv4.conf."+dev+".rp_filter", "0"))
		}
	}
	return steps, nil
}

// Apply carries the steps out in order, in the caller's network namespace,
// stopping at the first failure. Steps already in effect (the address is
// there, the device exists) succeed.
func Apply(steps []Step) error {
	for _, s := range steps {
		if s.do == nil {
			continue
		}
		if err := s.do(); err != nil {
			return fmt.Errorf("%s (%s): %w", s.Desc, s.Command, err)
		}
	}
	return nil
}

func sysctlStep(desc, key, value string) Step {
	return Step{Desc: desc, Command: "sysctl -w " + key + "=" + value,
		do: func() error { return writeSysctl(key, value) }}
}
