//go:build linux

package iface

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/govs/govs/internal/netnstest"
)

// Addresses go on and off as ip(8) shows them: an IPv4 alias with its
// label and broadcast, an IPv6 one without duplicate address detection;
// adding twice and removing twice are no errors; a link comes up.
func TestAddressesAndLinks(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "iface")
	// A veth pair whose far end is up, so that d0 has a carrier once up.
	ns.Run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d0p")
	ns.Run("ip", "link", "set", "d0p", "up")
	v4 := Addr{Device: "d0", Prefix: netip.MustParsePrefix("192.0.2.10/24"), Label: "d0:1"}
	v6 := Addr{Device: "d0", Prefix: netip.MustParsePrefix("2001:db8::10/64")}
	ns.Do(func() {
		if up, err := Running("d0"); err != nil || up {
			t.Errorf("a new link: running %v, %v", up, err)
		}
		if err := SetUp("d0"); err != nil {
			t.Fatal(err)
		}
		if up, err := Running("d0"); err != nil || !up {
			t.Errorf("after SetUp: running %v, %v", up, err)
		}
		for range 2 {
			for _, a := range []Addr{v4, v6} {
				if err := AddAddr(a); err != nil {
					t.Fatalf("adding %v: %v", a.Prefix, err)
				}
			}
		}
	})
	out := ns.Run("ip", "addr", "show", "dev", "d0")
	for _, want := range []string{"inet 192.0.2.10/24 brd 192.0.2.255 scope global d0:1", "inet6 2001:db8::10/64 scope global nodad"} {
		if !strings.Contains(out, want) {
			t.Errorf("ip addr lacks %q:\n%s", want, out)
		}
	}
	ns.Do(func() {
		for range 2 {
			for _, a := range []Addr{v4, v6} {
				if err := DelAddr(a); err != nil {
					t.Fatalf("removing %v: %v", a.Prefix, err)
				}
			}
		}
		if err := EnsureLink("d1", "bridge"); err != nil {
			t.Fatal(err)
		}
		if err := EnsureLink("d1", "bridge"); err != nil {
			t.Fatalf("again: %v", err)
		}
		if err := AddAddr(Addr{Device: "nosuch0", Prefix: v4.Prefix}); err == nil {
			t.Error("an address on a missing device was added")
		}
	})
	if out := ns.Run("ip", "addr", "show", "dev", "d0"); strings.Contains(out, "192.0.2.10") || strings.Contains(out, "2001:db8::10") {
		t.Errorf("addresses left:\n%s", out)
	}
	if out := ns.Run("ip", "-o", "link", "show", "d1"); !strings.Contains(out, "d1:") {
		t.Errorf("d1 missing:\n%s", out)
	}
}
