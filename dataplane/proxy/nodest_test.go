package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// A connection whose real server goes down stalls, and resumes when the
// server is back (the kernel's default, expire_nodest_conn = 0); with
// expire_nodest_conn = 1 it is reset at once, and a UDP flow's next
// datagram goes to a server that is up.
func TestNodestConn(t *testing.T) {
	for _, expire := range []bool{false, true} {
		for _, goroutines := range []bool{false, true} {
			t.Run(fmt.Sprintf("expire=%v/goroutines=%v", expire, goroutines), func(t *testing.T) {
				testNodest(t, expire, goroutines)
			})
		}
	}
}

func testNodest(t *testing.T, expire, goroutines bool) {
	e := newEnv(t, Options{Goroutines: goroutines})
	vip, r1, r2 := ip("127.0.21.1"), ip("127.0.21.11"), ip("127.0.21.12")
	tport, uport := testutil.FreePort(t, vip), testutil.FreePort(t, vip)
	rport := testutil.FreePort(t, r1, r2)
	startTCP(t, "a", r1, rport)
	startTCP(t, "b", r2, rport)
	startUDP(t, "a", ap(r1, rport))
	startUDP(t, "b", ap(r2, rport))
	servers := []model.RealServer{rs(r1, rport, 1), rs(r2, rport, 1)}
	web := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: tport,
		Scheduler: model.SchedRR, RealServers: servers}
	dns := web
	dns.Name, dns.Proto, dns.Port = "dns", model.ProtoUDP, uport
	cfg := &model.Config{Global: model.Global{ExpireNodestConn: expire}, Services: []model.Service{web, dns}}
	e.mustApply(cfg)

	c, name, _ := hello(t, ip("127.1.21.1"), ap(vip, tport))
	defer c.Close()
	if err := c.echo("one"); err != nil {
		t.Fatal(err)
	}
	u := newUDPClient(t, ip("127.1.21.2"), ap(vip, uport))
	uname := u.ask("one")
	key := func(n string) model.DestKey {
		if n == "a" {
			return servers[0].Key()
		}
		return servers[1].Key()
	}
	// The goroutine path applies a change at the plane's sweep, which
	// follows it by a moment: wait for that.
	down := func(svc model.Service, n string, st table.State) {
		t.Helper()
		swept := e.pl.sweeps.Load()
		if !e.svc(svc.Key()).SetState(key(n), st, "test") {
			t.Fatalf("no real server %s", n)
		}
		testutil.WaitFor(t, 2*time.Second, "the plane to sweep", func() bool { return e.pl.sweeps.Load() > swept })
	}
	down(web, name, table.StateDown)
	down(dns, uname, table.StateDown)

	if expire {
		// Reset at once, without the client sending anything.
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := c.line()
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("the connection of a server that went down ended with %v, not a reset", err)
		}
		if got := u.ask("two"); got == uname {
			t.Fatalf("the flow's next datagram went to %s, which is down", got)
		}
		return
	}
	// Stalled: the line is not passed on while the server is down...
	if _, err := c.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	if line, err := c.line(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a line reached a real server that is down: %q %v", line, err)
	}
	if _, err := u.c.WriteToUDPAddrPort([]byte("two"), u.vip); err != nil {
		t.Fatal(err)
	}
	u.c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	buf := make([]byte, 64)
	if n, _, err := u.c.ReadFromUDPAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a datagram of a flow whose server is down was answered: %q %v", buf[:n], err)
	}
	// ...and goes once it is back.
	down(web, name, table.StateUp)
	down(dns, uname, table.StateUp)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if line, err := c.line(); err != nil || line != "two" {
		t.Fatalf("after the server came back: %q %v, want the stalled line", line, err)
	}
	if err := c.echo("three"); err != nil {
		t.Fatal(err)
	}
	if got := u.ask("three"); got != uname {
		t.Fatalf("the flow moved from %s to %s", uname, got)
	}
}

// A UDP flow ended by the expire_nodest_conn sweep, on the goroutine
// path, while its real server's replies stream in: the sweep's goroutine
// and the flow's own reader must not both touch the reader's buffer (the
// race detector is the judge), and every flow's socket is given back.
func TestNodestExpiresStreamingFlows(t *testing.T) {
	e := newEnv(t, Options{Goroutines: true})
	vip, r1 := ip("127.0.21.1"), ip("127.0.21.13")
	uport := testutil.FreePort(t, vip)
	pc := testutil.ListenPacket(t, "udp", ap(r1, 0).String())
	testutil.ServePacket(t, pc, func(req []byte, reply func([]byte)) {
		for range 200 {
			reply(req)
		}
	})
	server := rs(r1, uint16(pc.LocalAddr().(*net.UDPAddr).Port), 1)
	dns := model.Service{Name: "dns", Active: true, Proto: model.ProtoUDP, VIP: vip, Port: uport,
		Scheduler: model.SchedRR, RealServers: []model.RealServer{server}}
	e.mustApply(&model.Config{Global: model.Global{ExpireNodestConn: true}, Services: []model.Service{dns}})
	svc := e.svc(dns.Key())
	for round := range 20 {
		svc.SetState(server.Key(), table.StateUp, "test")
		u := newUDPClient(t, ip("127.1.21.3"), ap(vip, uport))
		if _, err := u.c.WriteToUDPAddrPort([]byte("stream"), u.vip); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		u.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := u.c.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("round %d: no reply: %v", round, err)
		}
		svc.SetState(server.Key(), table.StateDown, "test")
		e.pl.expireNodestFlows()
		u.c.Close()
	}
	testutil.WaitFor(t, 2*time.Second, "every flow's socket given back", func() bool { return e.pl.budget.udp.Load() == 0 })
}
