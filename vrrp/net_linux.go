package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IPNet is the Linux Network: a raw IP socket of protocol 112 on one
// interface.
type IPNet struct {
	ifi   *net.Interface
	local netip.Addr
	c4    *ipv4.PacketConn
	c6    *ipv6.PacketConn
	raw   net.PacketConn
}

// ListenIP opens VRRP on interface ifname, sending from local (an address
// of the interface; for IPv6, RFC 5798 wants its link-local address). With
// no peers it joins the VRRP multicast group of local's family.
func ListenIP(ifname string, local netip.Addr, peers []netip.Addr) (*IPNet, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	local = local.Unmap()
	n := &IPNet{ifi: ifi, local: local}
	network, address, group := "ip6:112", "::", GroupV6
	if local.Is4() {
		network, address, group = "ip4:112", "0.0.0.0", GroupV4
	}
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	n.raw = pc
	var join func(*net.Interface, net.Addr) error
	if local.Is4() {
		c := ipv4.NewPacketConn(pc)
		n.c4, join = c, c.JoinGroup
		err = errors.Join(
			c.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
			c.SetTTL(255), c.SetMulticastTTL(255), c.SetMulticastLoopback(false),
			c.SetMulticastInterface(ifi))
	} else {
		c := ipv6.NewPacketConn(pc)
		n.c6, join = c, c.JoinGroup
		err = errors.Join(
			c.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
			c.SetHopLimit(255), c.SetMulticastHopLimit(255), c.SetMulticastLoopback(false),
			c.SetMulticastInterface(ifi))
	}
	if err == nil && len(peers) == 0 {
		err = join(ifi, &net.IPAddr{IP: group.AsSlice()})
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("vrrp on %s: %w", ifname, err)
	}
	return n, nil
}

// Send transmits payload to dst from the local address with TTL 255.
func (n *IPNet) Send(payload []byte, dst netip.Addr) error {
	to := &net.IPAddr{IP: dst.AsSlice()}
	if n.c4 != nil {
		_, err := n.c4.WriteTo(payload, &ipv4.ControlMessage{Src: n.local.AsSlice(), IfIndex: n.ifi.Index}, to)
		return err
	}
	if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() {
		to.Zone = n.ifi.Name
	}
	_, err := n.c6.WriteTo(payload, &ipv6.ControlMessage{Src: n.local.AsSlice(), IfIndex: n.ifi.Index, HopLimit: 255}, to)
	return err
}

// Receive returns the next VRRP packet that arrived on the interface.
func (n *IPNet) Receive() (Packet, error) {
	buf := make([]byte, 1500)
	for {
		var (
			cnt          int
			src          net.Addr
			ifIndex, ttl int
			dst          net.IP
			err          error
		)
		if n.c4 != nil {
			var cm *ipv4.ControlMessage
			cnt, cm, src, err = n.c4.ReadFrom(buf)
			if cm != nil {
				ifIndex, ttl, dst = cm.IfIndex, cm.TTL, cm.Dst
			}
		} else {
			var cm *ipv6.ControlMessage
			cnt, cm, src, err = n.c6.ReadFrom(buf)
			if cm != nil {
				ifIndex, ttl, dst = cm.IfIndex, cm.HopLimit, cm.Dst
			}
		}
		if err != nil {
			return Packet{}, err
		}
		if ifIndex != n.ifi.Index {
			continue // another interface's VRRP, not ours
		}
		ia, ok := src.(*net.IPAddr)
		if !ok {
			continue
		}
		s, _ := netip.AddrFromSlice(ia.IP)
		d, _ := netip.AddrFromSlice(dst)
		return Packet{Src: s.Unmap(), Dst: d.Unmap(), TTL: ttl, Payload: append([]byte(nil), buf[:cnt]...)}, nil
	}
}

// Close closes the socket.
func (n *IPNet) Close() error { return n.raw.Close() }
