package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/govs/govs/internal/iface"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

func (v VIP) addr() iface.Addr {
	a := iface.Addr{Device: BaseDevice(v.Device), Prefix: v.Prefix}
	if strings.Contains(v.Device, ":") {
		a.Label = v.Device
	}
	return a
}

// AddAddrs adds the VIPs to their base interfaces. One that is already
// there is fine.
func AddAddrs(vips []VIP) error {
	return eachAddr(vips, iface.AddAddr, "adding %s on %s: %w")
}

// RemoveAddrs removes the VIPs; one that is already gone is fine.
func RemoveAddrs(vips []VIP) error {
	return eachAddr(vips, iface.DelAddr, "removing %s from %s: %w")
}

// eachAddr applies op to every VIP and returns the errors, each as format
// says (VIP, device, error).
func eachAddr(vips []VIP, op func(iface.Addr) error, format string) error {
	var errs []error
	for _, v := range vips {
		if err := op(v.addr()); err != nil {
			errs = append(errs, fmt.Errorf(format, v.Prefix, v.Device, err))
		}
	}
	return errors.Join(errs...)
}

// kernelLink is the Linux Link: an AF_PACKET socket for gratuitous ARP
// and an ICMPv6 socket for neighbour advertisements per device, opened on
// first use and kept for the Announcer's life.
type kernelLink struct {
	arp map[string]*arpSender
	nd  map[string]*ndp.Conn
}

type arpSender struct {
	c   *packet.Conn
	ifi *net.Interface
}

// NewLink returns the Linux Link.
func NewLink() Link {
	return &kernelLink{arp: map[string]*arpSender{}, nd: map[string]*ndp.Conn{}}
}

// Announce sends one gratuitous ARP request for IPv4 (sender and target IP
// the address, sender and target MAC ours, to broadcast: send_arp's
// packet, which Linux neighbours accept without arp_accept for an entry
// they have) or one unsolicited override neighbour advertisement for IPv6.
func (k *kernelLink) Announce(v VIP) error {
	dev := BaseDevice(v.Device)
	addr := v.Prefix.Addr().Unmap()
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil // no link-layer addresses to announce (e.g. a tunnel)
	}
	if addr.Is4() {
		s := k.arp[dev]
		if s == nil || s.ifi.Index != ifi.Index {
			c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
			if err != nil {
				return err
			}
			s = &arpSender{c: c, ifi: ifi}
			k.arp[dev] = s
		}
		p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, addr, ifi.HardwareAddr, addr)
		if err != nil {
			return err
		}
		pb, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		fb, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: ifi.HardwareAddr,
			EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
		if err != nil {
			return err
		}
		_, err = s.c.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast})
		return err
	}
	c := k.nd[dev]
	if c == nil {
		c, _, err = ndp.Listen(ifi, ndp.LinkLocal)
		if err != nil {
			// A link-local address still tentative cannot be bound; the VIP
			// itself (added without DAD) serves as the source instead.
			if c, _, err = ndp.Listen(ifi, ndp.Addr(addr.String())); err != nil {
				return err
			}
		}
		k.nd[dev] = c
	}
	na := &ndp.NeighborAdvertisement{Override: true, TargetAddress: addr,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}}}
	return c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes())
}

// Close closes every socket.
func (k *kernelLink) Close() error {
	var errs []error
	for _, s := range k.arp {
		errs = append(errs, s.c.Close())
	}
	for _, c := range k.nd {
		errs = append(errs, c.Close())
	}
	clear(k.arp)
	clear(k.nd)
	return errors.Join(errs...)
}

// LinkUp reports whether ifname's link is up with a carrier, for
// monitor_links.
func LinkUp(ifname string) (bool, error) { return iface.Running(ifname) }
