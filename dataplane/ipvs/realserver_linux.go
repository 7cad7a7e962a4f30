//go:build linux

package ipvs

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return os.WriteFile(path, []byte(value+"\n"), 0o644)
}

func rtnl() (*netlink.Conn, error) { return netlink.Dial(unix.NETLINK_ROUTE, nil) }

func ifinfomsg(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

func ensureTunnelDevice(dev, kind string) error {
	if _, err := net.InterfaceByName(dev); err == nil {
		return nil
	}
	c, err := rtnl()
	if err != nil {
		return err
	}
	defer c.Close()
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, dev)
	ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.IFLA_INFO_KIND, kind)
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWLINK, Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl},
		Data:   append(ifinfomsg(0, 0, 0), attrs...),
	})
	// Loading the module on demand creates the fallback device under this
	// very name, which then makes the explicit creation fail: either way
	// the device now exists.
	if err != nil && !errors.Is(err, unix.EEXIST) {
		if _, lerr := net.InterfaceByName(dev); lerr != nil {
			return err
		}
	}
	return nil
}

func linkUp(dev string) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	c, err := rtnl()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWLINK, Flags: netlink.Request | netlink.Acknowledge},
		Data:   ifinfomsg(int32(ifi.Index), unix.IFF_UP, unix.IFF_UP),
	})
	return err
}

func addAddr(dev string, pfx netip.Prefix) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	c, err := rtnl()
	if err != nil {
		return err
	}
	defer c.Close()
	fam := byte(unix.AF_INET)
	if pfx.Addr().Is6() {
		fam = unix.AF_INET6
	}
	msg := make([]byte, unix.SizeofIfAddrmsg)
	msg[0] = fam
	msg[1] = byte(pfx.Bits())
	msg[2] = 0
	if fam == unix.AF_INET6 {
		msg[2] = unix.IFA_F_NODAD
	}
	msg[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(msg[4:], uint32(ifi.Index))
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, pfx.Addr().AsSlice())
	ae.Bytes(unix.IFA_ADDRESS, pfx.Addr().AsSlice())
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWADDR, Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl},
		Data:   append(msg, attrs...),
	})
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
