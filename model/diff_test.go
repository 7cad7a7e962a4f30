package model

import (
	"net/netip"
	"testing"
)

func TestDiff(t *testing.T) {
	rs := func(addr string, w int) RealServer {
		return RealServer{Name: addr, Addr: netip.MustParseAddr(addr), Port: 80, Weight: w, Active: true}
	}
	svc := func(port uint16, servers ...RealServer) Service {
		s := DefaultService("web")
		s.VIP, s.Port, s.RealServers = netip.MustParseAddr("192.0.2.1"), port, servers
		return s
	}
	from := &Config{Global: DefaultGlobal(), Services: []Service{
		svc(80, rs("198.51.100.1", 1), rs("198.51.100.2", 1), rs("198.51.100.3", 1)),
		svc(81, rs("198.51.100.1", 1)),
	}}
	from.Global.SerialNo = 7
	if got := Diff(from, from.Clone()).String(); got != "serial_no 7 → 7: no change" {
		t.Errorf("no change: %q", got)
	}
	to := from.Clone()
	to.Global.SerialNo = 8
	to.Services[0].RealServers[0].Weight = 3
	to.Services[0].RealServers[1].Weight = 0
	to.Services[0].RealServers[2].Active = false
	to.Services[0].RealServers = append(to.Services[0].RealServers, rs("198.51.100.4", 1))
	to.Services[1].Scheduler = SchedRR
	to.Services = append(to.Services, svc(443, rs("198.51.100.5", 1), rs("198.51.100.6", 1)))
	want := "serial_no 7 → 8: +1 service, 1 service changed, +3 real servers, 2 real servers reweighted, 1 real server changed"
	if got := Diff(from, to).String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	back := Diff(to, from)
	if back.ServicesRemoved != 1 || back.ServersRemoved != 3 || back.ServersReweighted != 2 {
		t.Errorf("the way back: %+v", back)
	}
	g := from.Clone()
	g.Global.Keepalive *= 2
	if got := Diff(from, g).String(); got != "serial_no 7 → 7: global settings changed" {
		t.Errorf("global: %q", got)
	}
}
