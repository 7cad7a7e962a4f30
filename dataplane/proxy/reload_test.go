package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// Reloads that change weights, the scheduler and the real servers of a
// service, and add and remove other services, lose none of its
// connections.
func TestReloadWithoutLoss(t *testing.T) {
	e := newEnv(t, Options{})
	vip, vipB := ip("127.0.18.1"), ip("127.0.18.2")
	rips := []netip.Addr{ip("127.0.18.11"), ip("127.0.18.12"), ip("127.0.18.13"), ip("127.0.18.14")}
	port := testutil.FreePort(t, append([]netip.Addr{vip, vipB}, rips...)...)
	for i, r := range rips {
		startTCP(t, fmt.Sprintf("rs%d", i+1), r, port)
		startUDP(t, fmt.Sprintf("urs%d", i+1), ap(r, port))
	}
	svcA := func(sched model.Scheduler, weights ...int) model.Service {
		s := model.Service{Name: "a", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port, Scheduler: sched}
		for i, w := range weights {
			if w >= 0 {
				s.RealServers = append(s.RealServers, rs(rips[i], port, w))
			}
		}
		return s
	}
	svcB := model.Service{Name: "b", Active: true, Proto: model.ProtoTCP, VIP: vipB, Port: port, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(rips[0], port, 1)}}
	svcC := model.Service{Name: "c", Active: true, Proto: model.ProtoUDP, VIP: vipB, Port: port, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(rips[1], port, 1)}}
	cfgs := []*model.Config{
		{Services: []model.Service{svcA(model.SchedRR, 1, 1, 1, -1)}},
		{Services: []model.Service{svcA(model.SchedWRR, 3, 2, 1, -1)}},
		{Services: []model.Service{svcA(model.SchedWRR, 3, 2, -1, -1), svcB}},
		{Services: []model.Service{svcB, svcA(model.SchedRR, 1, 0, 1, 1), svcC}},
		{Services: []model.Service{svcA(model.SchedRR, -1, 1, 1, 1), svcC}},
		{Services: []model.Service{svcA(model.SchedWRR, 1, 5, 1, 2)}},
	}
	e.mustApply(cfgs[0])

	load := testutil.StartLoad(4, 5000, func(w, i int) error {
		return roundTrip(ip(fmt.Sprintf("127.1.18.%d", w+1)), ap(vip, port), fmt.Sprint("w", w, " ", i))
	})
	deadline := time.Now().Add(2 * time.Second)
	reloads := 0
	for i := 1; time.Now().Before(deadline); i++ {
		if err := e.apply(cfgs[i%len(cfgs)]); err != nil {
			load.Stop()
			t.Fatalf("reload %d: %v", i, err)
		}
		reloads++
		time.Sleep(10 * time.Millisecond)
	}
	ok, failed, first := load.Stop()
	t.Logf("%d reloads, %d connections", reloads, ok)
	if failed > 0 {
		t.Fatalf("%d of %d connections failed across reloads; first: %v", failed, failed+ok, first)
	}
	// Floors low enough for a loaded machine; what matters is that load and
	// reloads overlapped.
	if ok < 20 || reloads < 5 {
		t.Fatalf("only %d connections and %d reloads", ok, reloads)
	}
	// Everything drains: no connection is left open in the table.
	testutil.WaitFor(t, 3*time.Second, "connections to drain", func() bool { return e.tbl.ConnCount() == 0 })
}

// roundTrip connects, reads the greeting, echoes a line and closes.
func roundTrip(src netip.Addr, dst netip.AddrPort, msg string) error {
	c, err := dialFrom(src, dst)
	if err != nil {
		return err
	}
	defer c.Close()
	if l, err := c.line(); err != nil || !strings.HasPrefix(l, "rs") {
		return fmt.Errorf("greeting %q: %v", l, err)
	}
	return c.echo(msg)
}

// A Prepare that cannot bind a port changes nothing: listeners it bound
// are closed, running services keep serving, and the next Prepare works.
func TestPrepareFailureChangesNothing(t *testing.T) {
	e := newEnv(t, Options{})
	vip, taken, other := ip("127.0.19.1"), ip("127.0.19.3"), ip("127.0.19.2")
	rip := ip("127.0.19.11")
	port := testutil.FreePort(t, vip, taken, other, rip)
	startTCP(t, "rs1", rip, port)
	mk := func(name string, a netip.Addr) model.Service {
		return model.Service{Name: name, Active: true, Proto: model.ProtoTCP, VIP: a, Port: port, Scheduler: model.SchedRR,
			RealServers: []model.RealServer{rs(rip, port, 1)}}
	}
	base := &model.Config{Services: []model.Service{mk("a", vip)}}
	e.mustApply(base)

	blocker, err := net.Listen("tcp", ap(taken, port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	bad := &model.Config{Services: []model.Service{mk("a", vip), mk("other", other), mk("taken", taken)}}
	tx, err := e.pl.Prepare(context.Background(), bad)
	if err == nil {
		tx.Abort()
		t.Fatal("Prepare bound a taken port")
	}
	if want := ap(taken, port).String(); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
	// The listener Prepare bound before failing is gone.
	l, err := net.Listen("tcp", ap(other, port).String())
	if err != nil {
		t.Fatalf("port bound by the failed Prepare still taken: %v", err)
	}
	l.Close()
	if name, _ := ident(t, ip("127.0.0.1"), ap(vip, port)); name != "rs1" {
		t.Fatalf("running service answered %q", name)
	}
	blocker.Close()
	e.mustApply(bad)
	for _, a := range []netip.Addr{vip, other, taken} {
		if name, _ := ident(t, ip("127.0.0.1"), ap(a, port)); name != "rs1" {
			t.Fatalf("%s answered %q", a, name)
		}
	}
}

// On Linux a VIP that is not configured on any interface can be bound,
// as a backup router needs.
func TestFreebind(t *testing.T) {
	if !isLinux {
		t.Skip("IP_FREEBIND is Linux only")
	}
	e := newEnv(t, Options{})
	// TEST-NET-1: bound only, never sent to.
	vip := ip("192.0.2.1")
	cfg := &model.Config{Services: []model.Service{{Name: "backup", Active: true, Proto: model.ProtoIP, FWMark: 7,
		VIP: vip, Port: 80, MarkPorts: model.PortRanges{{First: 8080, Last: 8081}}, Scheduler: model.SchedRR}}}
	tx, err := e.pl.Prepare(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Prepare on an unplumbed VIP: %v", err)
	}
	if n := len(tx.(*txn).fresh); n != 4 {
		t.Fatalf("%d listeners for two ports of a TCP+UDP mark, want 4", n)
	}
	tx.Abort()
}

// A reload that removes a service or a real server lets their open
// connections and UDP flows finish; the removed service takes no new ones,
// and its UDP port is released once its last flow expires.
func TestRemovalDrains(t *testing.T) {
	e := newEnv(t, Options{})
	vip, r1, r2 := ip("127.0.24.1"), ip("127.0.24.11"), ip("127.0.24.12")
	port, other := testutil.FreePort(t, vip, r1, r2), testutil.FreePort(t, vip, r1)
	startTCP(t, "rs1", r1, port, other)
	startTCP(t, "rs2", r2, port)
	startUDP(t, "urs1", ap(r1, port))
	mk := func(p model.Proto, port uint16, servers ...netip.Addr) model.Service {
		s := model.Service{Name: p.String(), Active: true, Proto: p, VIP: vip, Port: port, Scheduler: model.SchedRR}
		for _, r := range servers {
			s.RealServers = append(s.RealServers, rs(r, port, 1))
		}
		return s
	}
	global := model.Global{UDPTimeout: 500 * time.Millisecond}
	e.mustApply(&model.Config{Global: global, Services: []model.Service{
		mk(model.ProtoTCP, port, r1, r2), mk(model.ProtoUDP, port, r1), mk(model.ProtoTCP, other, r1)}})

	t.Run("real server", func(t *testing.T) {
		c, name, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
		defer c.Close()
		keep := r1
		if name == "rs1" {
			keep = r2
		}
		e.mustApply(&model.Config{Global: global, Services: []model.Service{
			mk(model.ProtoTCP, port, keep), mk(model.ProtoUDP, port, r1), mk(model.ProtoTCP, other, r1)}})
		if err := c.echo("after removal"); err != nil {
			t.Fatalf("connection to a removed real server: %v", err)
		}
		for range 4 {
			if n, _ := ident(t, ip("127.0.0.1"), ap(vip, port)); n == name {
				t.Fatalf("new connection went to removed %s", name)
			}
		}
	})

	t.Run("service", func(t *testing.T) {
		c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
		defer c.Close()
		u := newUDPClient(t, ip("127.0.0.1"), ap(vip, port))
		u.ask("before")
		e.mustApply(&model.Config{Global: global, Services: []model.Service{mk(model.ProtoTCP, other, r1)}})
		if err := c.echo("after removal"); err != nil {
			t.Fatalf("connection of a removed service: %v", err)
		}
		u.ask("after removal")
		if _, err := dialFrom(ip("127.0.0.1"), ap(vip, port)); err == nil {
			t.Fatal("removed TCP service still accepts")
		}
		// A new client of the removed UDP service gets nothing.
		n := newUDPClient(t, ip("127.0.0.2"), ap(vip, port))
		n.c.WriteToUDPAddrPort([]byte("new"), ap(vip, port))
		n.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, _, err := n.c.ReadFromUDPAddrPort(make([]byte, 100)); err == nil {
			t.Fatal("removed UDP service answered a new client")
		}
		// Once the flow expires the port is free again.
		testutil.WaitFor(t, 3*time.Second, "UDP port release", func() bool {
			uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap(vip, port)))
			if err == nil {
				uc.Close()
			}
			return err == nil
		})
		// The unchanged service never noticed.
		if name, _ := ident(t, ip("127.0.0.1"), ap(vip, other)); name != "rs1" {
			t.Fatalf("unchanged service answered %q", name)
		}
	})
}

// A port that moves from an address service into a mark bundle keeps its
// listening socket and its open connections; new connections follow the
// new service.
func TestRepoint(t *testing.T) {
	e := newEnv(t, Options{})
	vip, r1, r2 := ip("127.0.25.1"), ip("127.0.25.11"), ip("127.0.25.12")
	port := testutil.FreePort(t, vip, r1, r2)
	startTCP(t, "rs1", r1, port)
	startTCP(t, "rs2", r2, port)
	plain := model.Service{Name: "plain", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(r1, port, 1)}}
	bundle := model.Service{Name: "bundle", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port, FWMark: 5,
		MarkPorts: model.PortRanges{{First: port, Last: port}}, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(r2, 0, 1)}}
	e.mustApply(&model.Config{Services: []model.Service{plain}})
	id := lkey{model.ProtoTCP, ap(vip, port)}
	e.pl.mu.Lock()
	before := e.pl.listeners[id]
	e.pl.mu.Unlock()
	c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer c.Close()

	e.mustApply(&model.Config{Services: []model.Service{bundle}})
	e.pl.mu.Lock()
	after := e.pl.listeners[id]
	e.pl.mu.Unlock()
	if before != after {
		t.Fatal("the listener was replaced instead of re-pointed")
	}
	if err := c.echo("kept"); err != nil {
		t.Fatalf("open connection across the move: %v", err)
	}
	if name, reached := ident(t, ip("127.0.0.1"), ap(vip, port)); name != "rs2" || reached != int(port) {
		t.Fatalf("new connection reached %s:%d, want the bundle's rs2:%d", name, reached, port)
	}
}
