//go:build !linux

package vrrp

import (
	"errors"
	"net/netip"
)

// errNotLinux is what redundancy says on systems other than Linux: VRRP
// needs raw IP sockets with per-packet control messages, netlink for the
// addresses and AF_PACKET for gratuitous ARP.
var errNotLinux = errors.New("vrrp: router redundancy needs Linux")

// IPNet is the Linux Network; elsewhere it cannot be opened.
type IPNet struct{}

// ListenIP fails: VRRP needs Linux.
func ListenIP(string, netip.Addr, []netip.Addr) (*IPNet, error) { return nil, errNotLinux }

// Send fails: VRRP needs Linux.
func (*IPNet) Send([]byte, netip.Addr) error { return errNotLinux }

// Receive fails: VRRP needs Linux.
func (*IPNet) Receive() (Packet, error) { return Packet{}, errNotLinux }

// Close does nothing.
func (*IPNet) Close() error { return nil }

// AddAddrs fails: VRRP needs Linux.
func AddAddrs([]VIP) error { return errNotLinux }

// RemoveAddrs fails: VRRP needs Linux.
func RemoveAddrs([]VIP) error { return errNotLinux }

// LinkUp fails: VRRP needs Linux.
func LinkUp(string) (bool, error) { return false, errNotLinux }

type noLink struct{}

// NewLink returns a Link that cannot send: VRRP needs Linux.
func NewLink() Link { return noLink{} }

func (noLink) Announce(VIP) error { return errNotLinux }
func (noLink) Close() error       { return nil }
