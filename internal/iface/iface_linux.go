//go:build linux

package iface

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// Addr is an address to put on an interface.
type Addr struct {
	// Device is the interface, Prefix the address and its prefix length.
	Device string
	Prefix netip.Prefix
	// Label is an IPv4 alias label (eth0:1), or empty.
	Label string
}

func (a Addr) message() (*rtnetlink.AddressMessage, error) {
	ifi, err := net.InterfaceByName(a.Device)
	if err != nil {
		return nil, err
	}
	ip := a.Prefix.Addr().Unmap()
	m := &rtnetlink.AddressMessage{Family: unix.AF_INET, PrefixLength: uint8(a.Prefix.Bits()),
		Scope: unix.RT_SCOPE_UNIVERSE, Index: uint32(ifi.Index),
		Attributes: &rtnetlink.AddressAttributes{Address: ip.AsSlice(), Local: ip.AsSlice(), Label: a.Label}}
	if ip.Is6() {
		// Duplicate address detection would hold the address tentative,
		// and unusable, for a second or more right when it is needed.
		m.Family, m.Flags, m.Attributes.Flags = unix.AF_INET6, unix.IFA_F_NODAD, unix.IFA_F_NODAD
		m.Attributes.Label = ""
	} else if bits := a.Prefix.Bits(); bits < 31 {
		// The broadcast address ip(8) sets with "brd +".
		b := ip.As4()
		host := ^uint32(0) >> bits
		for i := range 4 {
			b[i] |= byte(host >> (24 - 8*i))
		}
		m.Attributes.Broadcast = net.IP(b[:])
	}
	return m, nil
}

// AddAddr puts a on its interface; an address already there is fine.
func AddAddr(a Addr) error {
	return changeAddr(a, (*rtnetlink.AddressService).New, unix.EEXIST)
}

// DelAddr takes a off its interface; an address already gone is fine.
func DelAddr(a Addr) error {
	return changeAddr(a, (*rtnetlink.AddressService).Delete, unix.EADDRNOTAVAIL)
}

// changeAddr sends change for a. The error done says the change was made
// before, which is what the caller wanted.
func changeAddr(a Addr, change func(*rtnetlink.AddressService, *rtnetlink.AddressMessage) error, done unix.Errno) error {
	m, err := a.message()
	if err != nil {
		return err
	}
	return withConn(func(c *rtnetlink.Conn) error {
		if err := change(c.Address, m); err != nil && !errors.Is(err, done) {
			return err
		}
		return nil
	})
}

// Running reports whether an interface is up with a carrier.
func Running(dev string) (bool, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return false, err
	}
	var up bool
	err = withConn(func(c *rtnetlink.Conn) error {
		l, err := c.Link.Get(uint32(ifi.Index))
		if err != nil {
			return err
		}
		st := rtnetlink.OperStateUnknown
		if l.Attributes != nil {
			st = l.Attributes.OperationalState
		}
		up = l.Flags&unix.IFF_UP != 0 && st != rtnetlink.OperStateDown && st != rtnetlink.OperStateLowerLayerDown
		return nil
	})
	return up, err
}

// SetUp brings an interface up.
func SetUp(dev string) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	return withConn(func(c *rtnetlink.Conn) error {
		return c.Link.Set(&rtnetlink.LinkMessage{Family: unix.AF_UNSPEC, Index: uint32(ifi.Index),
			Flags: unix.IFF_UP, Change: unix.IFF_UP})
	})
}

// EnsureLink makes a device of kind (ipip, ip6tnl) named dev unless it
// exists.
func EnsureLink(dev, kind string) error {
	if _, err := net.InterfaceByName(dev); err == nil {
		return nil
	}
	err := withConn(func(c *rtnetlink.Conn) error {
		return c.Link.New(&rtnetlink.LinkMessage{Family: unix.AF_UNSPEC,
			Attributes: &rtnetlink.LinkAttributes{Name: dev, Info: &rtnetlink.LinkInfo{Kind: kind}}})
	})
	// Loading the module on demand creates the fallback device under this
	// very name, which then makes the explicit creation fail: either way
	// the device now exists.
	if err != nil {
		if _, lerr := net.InterfaceByName(dev); lerr != nil {
			return fmt.Errorf("creating %s device %s: %w", kind, dev, err)
		}
	}
	return nil
}

func withConn(f func(*rtnetlink.Conn) error) error {
	c, err := rtnetlink.Dial(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}
