package proxy

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// TestSocketBudget floods a UDP service with more flows than the plane's
// socket budget allows: the flows beyond it are refused and counted, the
// flows inside it keep their answers, a TCP service beside it keeps
// working, and once the flood's flows expire new flows are taken again.
func TestSocketBudget(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(fmt.Sprintf("goroutines=%v", goroutines), func(t *testing.T) {
			const budget = 40 // UDP may take 30 of it, TCP 30 (15 connections)
			e := newEnv(t, Options{Sockets: budget, Goroutines: goroutines})
			vip, rip := ip("127.0.19.1"), ip("127.0.19.11")
			uport, tport := testutil.FreePort(t, vip), testutil.FreePort(t, vip)
			rport := testutil.FreePort(t, rip)
			startUDP(t, "u1", ap(rip, rport))
			startTCP(t, "t1", rip, rport)
			cfg := &model.Config{Global: model.Global{UDPTimeout: 700 * time.Millisecond}, Services: []model.Service{
				{Name: "dns", Active: true, Proto: model.ProtoUDP, VIP: vip, Port: uport,
					Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, rport, 1)}},
				{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: tport,
					Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, rport, 1)}},
			}}
			e.mustApply(cfg)
			s := e.pl.Sockets()
			if s.Limit != budget || s.UDPLimit != 30 || s.TCPLimit != 30 {
				t.Fatalf("budget %+v, want limit 40 with 30 for each protocol", s)
			}

			// The first client holds a flow from before the flood.
			first := newUDPClient(t, ip("127.1.19.1"), ap(vip, uport))
			if first.ask("before") != "u1" {
				t.Fatal("no answer before the flood")
			}
			// 200 clients, one datagram each.
			flood := make([]*net.UDPConn, 200)
			for i := range flood {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap(ip("127.1.19.2"), 0)))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.WriteToUDPAddrPort([]byte("x"), ap(vip, uport)); err != nil {
					t.Fatal(err)
				}
				flood[i] = c
			}
			testutil.WaitFor(t, 5*time.Second, "the flood to be taken or refused", func() bool {
				s := e.pl.Sockets()
				return s.UDP+int(s.RefusedUDP) >= 201
			})
			s = e.pl.Sockets()
			if s.UDP != 30 || s.RefusedUDP != 171 {
				t.Fatalf("after 201 flows: %+v, want 30 held and 171 refused", s)
			}
			if n := e.tbl.ConnCount(); n != 30 {
				t.Fatalf("%d connection entries, want the 30 flows held", n)
			}
			// The flows held keep working, and TCP has its share.
			if first.ask("during") != "u1" {
				t.Fatal("the first flow lost its answer during the flood")
			}
			for range 3 {
				if name, _ := ident(t, ip("127.1.19.3"), ap(vip, tport)); name != "t1" {
					t.Fatalf("TCP answered by %q during the flood", name)
				}
			}
			// The flood's flows expire; new flows are taken again.
			testutil.WaitFor(t, 5*time.Second, "the flood's flows to expire", func() bool { return e.pl.Sockets().UDP == 0 })
			late := newUDPClient(t, ip("127.1.19.4"), ap(vip, uport))
			if late.ask("after") != "u1" {
				t.Fatal("no answer after the flood")
			}
			if s := e.pl.Sockets(); s.UDP != 1 || s.RefusedUDP != 171 {
				t.Fatalf("after the flood: %+v, want one flow and no new refusal", s)
			}
		})
	}
}

// TestSocketBudgetTCP fills the TCP share with held connections: the next
// client is reset at once, counted, and served again once one closes.
func TestSocketBudgetTCP(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(fmt.Sprintf("goroutines=%v", goroutines), func(t *testing.T) {
			e := newEnv(t, Options{Sockets: 8, Goroutines: goroutines}) // TCP: 6 sockets, 3 connections
			vip, rip := ip("127.0.19.2"), ip("127.0.19.12")
			tport, rport := testutil.FreePort(t, vip), startTCP(t, "t1", rip, 0).port
			e.mustApply(&model.Config{Services: []model.Service{{Name: "web", Active: true, Proto: model.ProtoTCP,
				VIP: vip, Port: tport, Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, rport, 1)}}}})
			held := holdN(t, 3, "t1", ip("127.1.19.5"), ap(vip, tport))
			// The reset may come before connect returns.
			if c, err := dialFrom(ip("127.1.19.5"), ap(vip, tport)); err == nil {
				line, err := c.line()
				c.Close()
				if err == nil {
					t.Fatalf("a fourth connection over the budget was answered: %q", line)
				}
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("a fourth connection over the budget ended with %v, not a reset", err)
				}
			} else if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("a fourth connection over the budget: %v, not a reset", err)
			}
			if s := e.pl.Sockets(); s.TCP != 6 || s.RefusedTCP != 1 {
				t.Fatalf("%+v, want 6 TCP sockets held and one refusal", s)
			}
			held[0].Close()
			testutil.WaitFor(t, 3*time.Second, "a closed connection to give its sockets back", func() bool {
				return e.pl.Sockets().TCP == 4
			})
			c, name, _ := hello(t, ip("127.1.19.5"), ap(vip, tport))
			if name != "t1" {
				t.Fatalf("answered by %q after one closed", name)
			}
			c.Close()
			for _, h := range held[1:] {
				h.Close()
			}
			testutil.WaitFor(t, 3*time.Second, "every socket back", func() bool { return e.pl.Sockets().InUse == 0 })
		})
	}
}

// lvs.cf's max_conns: a service's bounds its own connections and flows, the
// global one all of the plane's; one more is refused and counted, and a
// place freed is taken again.
func TestMaxConns(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.19.3"), ip("127.0.19.13")
	tport, uport, t2port := testutil.FreePort(t, vip), testutil.FreePort(t, vip), testutil.FreePort(t, vip)
	rport := testutil.FreePort(t, rip)
	startTCP(t, "t1", rip, rport)
	startUDP(t, "u1", ap(rip, rport))
	web := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: tport,
		Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, rport, 1)}, MaxConns: 2}
	dns := model.Service{Name: "dns", Active: true, Proto: model.ProtoUDP, VIP: vip, Port: uport,
		Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, rport, 1)}, MaxConns: 1}
	other := web
	other.Name, other.Port, other.MaxConns = "other", t2port, 0
	cfg := &model.Config{Services: []model.Service{web, dns, other}}
	e.mustApply(cfg)

	refusedTCP := func(port uint16) bool {
		t.Helper()
		c, err := dialFrom(ip("127.1.19.6"), ap(vip, port))
		if err != nil {
			return errors.Is(err, syscall.ECONNRESET)
		}
		defer c.Close()
		_, err = c.line()
		return err != nil
	}
	held := holdN(t, 2, "t1", ip("127.1.19.6"), ap(vip, tport))
	if !refusedTCP(tport) {
		t.Fatal("a third connection to a service of max_conns 2 was served")
	}
	if got := e.svc(web.Key()).Refused(); got != 1 {
		t.Fatalf("%d refusals counted, want 1", got)
	}
	// The bound is the service's: another service still serves.
	if name, _ := ident(t, ip("127.1.19.6"), ap(vip, t2port)); name != "t1" {
		t.Fatalf("another service answered by %q", name)
	}
	held[0].Close()
	testutil.WaitFor(t, 3*time.Second, "the closed connection's place", func() bool { return e.svc(web.Key()).OpenConns() == 1 })
	c, _, _ := hello(t, ip("127.1.19.6"), ap(vip, tport))
	held[0] = c

	// UDP: one flow, and a second client's datagram is dropped.
	a := newUDPClient(t, ip("127.1.19.7"), ap(vip, uport))
	if a.ask("a") != "u1" {
		t.Fatal("no answer to the first flow")
	}
	b := newUDPClient(t, ip("127.1.19.8"), ap(vip, uport))
	b.c.WriteToUDPAddrPort([]byte("b"), b.vip)
	b.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := b.c.ReadFromUDPAddrPort(make([]byte, 64)); err == nil {
		t.Fatalf("a second flow of a service of max_conns 1 was answered (%d bytes)", n)
	}
	if got := e.svc(dns.Key()).Refused(); got != 1 {
		t.Fatalf("%d UDP refusals, want 1", got)
	}

	// The global bound: with 2 TCP connections and 1 flow held, max_conns
	// = 3 refuses the next connection to any service.
	cfg.Global.MaxConns = 3
	e.mustApply(cfg)
	if !refusedTCP(t2port) {
		t.Fatal("a connection beyond the global max_conns was served")
	}
	if s := e.pl.Sockets(); s.MaxConns != 3 || s.Conns != 3 || s.RefusedTCP != 1 {
		t.Fatalf("budget %+v, want max_conns 3 with 3 held and one TCP refusal", s)
	}
	cfg.Global.MaxConns = 0
	e.mustApply(cfg)
	if name, _ := ident(t, ip("127.1.19.6"), ap(vip, t2port)); name != "t1" {
		t.Fatalf("after max_conns was lifted: %q", name)
	}
	for _, h := range held {
		h.Close()
	}
}
