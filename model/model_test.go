package model

import (
	"net/netip"
	"testing"
)

func TestParseServiceKey(t *testing.T) {
	for in, want := range map[string]ServiceKey{
		"tcp:192.0.2.1:80":          TCPKey(netip.MustParseAddrPort("192.0.2.1:80")),
		"UDP:[2001:db8::1]:53":      UDPKey(netip.MustParseAddrPort("[2001:db8::1]:53")),
		"fwm:80":                    MarkKey(IPv4, 80),
		"fwm:0x15:6":                MarkKey(IPv6, 21),
		"tcp:[::ffff:192.0.2.1]:80": TCPKey(netip.MustParseAddrPort("192.0.2.1:80")),
	} {
		got, err := ParseServiceKey(in)
		if err != nil || got != want {
			t.Errorf("ParseServiceKey(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "web", "tcp:192.0.2.1", "fwm:0", "fwm:80:5", "sctp:192.0.2.1:80"} {
		if _, err := ParseServiceKey(bad); err == nil {
			t.Errorf("ParseServiceKey(%q) accepted", bad)
		}
	}
}

func TestKeyString(t *testing.T) {
	for k, want := range map[ServiceKey]string{
		TCPKey(netip.MustParseAddrPort("192.0.2.1:80")):     "TCP  192.0.2.1:80",
		UDPKey(netip.MustParseAddrPort("[2001:db8::1]:53")): "UDP  [2001:db8::1]:53",
		MarkKey(IPv4, 80): "FWM  80",
		MarkKey(IPv6, 80): "FWM  80 IPv6",
	} {
		if k.String() != want {
			t.Errorf("%#v: %q, want %q", k, k.String(), want)
		}
	}
}

func TestSchedFlagsRoundTrip(t *testing.T) {
	f, err := ParseSchedFlags("sh-port,sh-fallback")
	if err != nil || f != FlagPort|FlagFallback || f.Format(SchedSH) != "sh-fallback,sh-port" {
		t.Fatalf("%v %v %q", f, err, f.Format(SchedSH))
	}
	if f.Format(SchedWLC) != "flag-1,flag-2" {
		t.Errorf("generic flags: %q", f.Format(SchedWLC))
	}
	if _, err := ParseSchedFlags("sh-bogus"); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestPortsAndRanges(t *testing.T) {
	rs := PortRanges{{First: 21, Last: 21}, {First: 10000, Last: 20000}}
	if !rs.Contains(15000) || rs.Contains(20001) || rs.String() != "21,10000-20000" {
		t.Errorf("ranges %v", rs)
	}
	if p, ok := LookupPort("HTTPS"); !ok || p != 443 {
		t.Errorf("LookupPort(HTTPS) = %d %v", p, ok)
	}
	if _, ok := LookupPort("nosuch"); ok {
		t.Error("unknown service name found")
	}
	s := Service{FWMark: 80, VIP: netip.MustParseAddr("2001:db8::1"), MarkPorts: rs, Port: 21}
	if s.Key() != MarkKey(IPv6, 80) || len(s.ListenPorts()) != 2 {
		t.Errorf("mark service key %v ports %v", s.Key(), s.ListenPorts())
	}
}

// A clone shares nothing an edit could change: its services, real
// servers, marked ports, check extensions and peers are its own.
func TestConfigClone(t *testing.T) {
	c := &Config{Global: Global{VRRPUnicastPeers: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		Services: []Service{{Name: "web", MarkPorts: PortRanges{{First: 80, Last: 80}},
			RealServers: []RealServer{{Name: "a", Weight: 1}}, Check: Check{Extra: map[string]string{"rise": "2"}}}}}
	d := c.Clone()
	d.Global.VRRPUnicastPeers[0] = netip.MustParseAddr("192.0.2.3")
	d.Services[0].Name = "x"
	d.Services[0].MarkPorts[0].First = 81
	d.Services[0].RealServers[0].Weight = 9
	d.Services[0].Check.Extra["rise"] = "5"
	s := c.Services[0]
	if c.Global.VRRPUnicastPeers[0].String() != "192.0.2.2" || s.Name != "web" || s.MarkPorts[0].First != 80 ||
		s.RealServers[0].Weight != 1 || s.Check.Extra["rise"] != "2" {
		t.Fatalf("the original changed with its clone: %+v", c)
	}
}
