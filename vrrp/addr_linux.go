package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VIP is an address the master owns: a virtual server's address (/32 or
// /128) or the NAT router's (with nat_nmask's prefix).
type VIP struct {
	Prefix netip.Prefix
	// Device is lvs.cf's device, possibly an alias such as eth0:1.
	Device string
}

// BaseDevice strips an ifconfig alias (eth0:1 → eth0): aliases are labels
// of addresses on the base interface, not interfaces.
func BaseDevice(dev string) string {
	base, _, _ := strings.Cut(dev, ":")
	return base
}

func (v VIP) nlAddr() *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: v.Prefix.Addr().AsSlice(),
		Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())}}
	if v.Prefix.Addr().Is6() {
		// Duplicate address detection would hold the VIP tentative, and
		// unusable, for a second or more right when it is needed.
		a.Flags = unix.IFA_F_NODAD
	} else if strings.Contains(v.Device, ":") {
		a.Label = v.Device
	}
	return a
}

// AddAddrs adds the VIPs to their base interfaces. One that is already
// there is fine.
func AddAddrs(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		l, err := netlink.LinkByName(BaseDevice(v.Device))
		if err == nil {
			err = netlink.AddrReplace(l, v.nlAddr())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("adding %s on %s: %w", v.Prefix, v.Device, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveAddrs removes the VIPs; one that is already gone is fine.
func RemoveAddrs(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		l, err := netlink.LinkByName(BaseDevice(v.Device))
		if err == nil {
			err = netlink.AddrDel(l, v.nlAddr())
		}
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("removing %s from %s: %w", v.Prefix, v.Device, err))
		}
	}
	return errors.Join(errs...)
}

// Announce tells the link that addr now lives at ifname's MAC: count
// gratuitous ARP requests for IPv4 (sender and target IP the address,
// sender and target MAC ours, to broadcast: send_arp's packet, which Linux
// neighbours accept without arp_accept for an entry they have) or
// unsolicited override neighbour advertisements for IPv6, spacing apart.
func Announce(ifname string, addr netip.Addr, count int, spacing time.Duration) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil // no link-layer addresses to announce (e.g. a tunnel)
	}
	var send func() error
	addr = addr.Unmap()
	if addr.Is4() {
		c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		if err != nil {
			return err
		}
		defer c.Close()
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
		send = func() error {
			_, err := c.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast})
			return err
		}
	} else {
		c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
		if err != nil {
			// A link-local address still tentative cannot be bound; the VIP
			// itself (added without DAD) serves as the source instead.
			if c, _, err = ndp.Listen(ifi, ndp.Addr(addr.String())); err != nil {
				return err
			}
		}
		defer c.Close()
		na := &ndp.NeighborAdvertisement{Override: true, TargetAddress: addr,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}}}
		send = func() error { return c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()) }
	}
	for i := range count {
		if i > 0 {
			time.Sleep(spacing)
		}
		if err := send(); err != nil {
			return err
		}
	}
	return nil
}

// LinkUp reports whether ifname's link is up with a carrier, for
// monitor_links.
func LinkUp(ifname string) (bool, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return false, err
	}
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0 && a.OperState != netlink.OperDown && a.OperState != netlink.OperLowerLayerDown, nil
}
