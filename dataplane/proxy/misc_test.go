package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Real servers configured for the PROXY protocol learn the client's
// address and the VIP, in either version.
func TestProxyProtocol(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.20.1"), ip("127.0.20.11")
	p1, p2, rport := testutil.FreePort(t, vip), testutil.FreePort(t, vip), startProxyTCP(t, "rs1", rip, 0).port
	var svcs []model.Service
	for v, port := range map[int]uint16{1: p1, 2: p2} {
		r := rs(rip, rport, 1)
		r.ProxyProtocol = v
		svcs = append(svcs, model.Service{Name: fmt.Sprint("pp", v), Active: true, Proto: model.ProtoTCP, VIP: vip,
			Port: port, Scheduler: model.SchedRR, RealServers: []model.RealServer{r}})
	}
	e.mustApply(&model.Config{Services: svcs})
	for v, port := range map[int]uint16{1: p1, 2: p2} {
		c, err := dialFrom(ip("127.3.4.5"), ap(vip, port))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.line()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("PROXY v%d %s %s", v, c.LocalAddr(), ap(vip, port))
		if got != want {
			t.Errorf("real server saw %q, want %q", got, want)
		}
		if name, err := c.line(); err != nil || !strings.HasPrefix(name, "rs1 ") {
			t.Errorf("greeting after the header: %q, %v", name, err)
		}
		if err := c.echo("payload"); err != nil {
			t.Error(err)
		}
		c.Close()
	}
}

// After traffic the real server's and the service's counters hold the
// bytes carried each way, and the connection counts return to zero.
func TestCounters(t *testing.T) {
	for _, mode := range []struct {
		name string
		opt  Options
	}{{"splice", Options{}}, {"buffered", Options{NoSplice: true, ChunkSize: 4096}}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, mode.opt)
			vip, rip := ip("127.0.21.1"), ip("127.0.21.11")
			svc, _ := e.single(t, model.Global{}, "c", vip, rip)
			port := svc.Port
			d := e.svc(svc.Key()).Dests()[0]

			c, name, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
			defer c.Close()
			greeting := len(fmt.Sprintf("%s %d\n", name, port))
			if d.ActiveConns() != 1 || d.InactiveConns() != 0 {
				t.Fatalf("open connection counted active %d inactive %d", d.ActiveConns(), d.InactiveConns())
			}
			const down, up = 300000, 200000
			if _, err := c.Write([]byte(fmt.Sprintf("send %d\n", down))); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c.r, make([]byte, down)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(append([]byte("sink\n"), make([]byte, up)...)); err != nil {
				t.Fatal(err)
			}
			c.CloseWrite()
			rest, err := io.ReadAll(c.r)
			if err != nil {
				t.Fatal(err)
			}
			wantIn := uint64(len(fmt.Sprintf("send %d\n", down)) + len("sink\n") + up)
			wantOut := uint64(greeting + down + len(rest))
			// Closed, the entry lingers in TIME_WAIT as an inactive one.
			testutil.WaitFor(t, 2*time.Second, "connection released", func() bool {
				return d.ActiveConns() == 0 && d.InactiveConns() == 1 && e.tbl.ConnCount() == 0
			})
			for what, ct := range map[string]*table.Counters{"real server": &d.Counters, "service": &e.svc(svc.Key()).Counters} {
				st := ct.Snapshot()
				if st.InBytes != wantIn || st.OutBytes != wantOut || st.Conns != 1 {
					t.Errorf("%s counters %+v, want in %d out %d conns 1", what, st, wantIn, wantOut)
				}
				if st.InPkts < wantIn/mss || st.OutPkts < wantOut/mss {
					t.Errorf("%s packet estimate %d in %d out, below one per %d bytes", what, st.InPkts, st.OutPkts, mss)
				}
			}
		})
	}
}

// Close stops accepting at once, lets an open connection finish, and
// returns when it does.
func TestCloseDrains(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.22.1"), ip("127.0.22.11")
	svc, _ := e.single(t, model.Global{}, "d", vip, rip)
	port := svc.Port
	c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer c.Close()

	closed := make(chan time.Time, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.pl.Close(ctx)
		closed <- time.Now()
	}()
	testutil.WaitFor(t, 2*time.Second, "listener to close", func() bool {
		nc, err := net.DialTimeout("tcp", ap(vip, port).String(), time.Second)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	for i := range 3 {
		if err := c.echo(fmt.Sprint("draining ", i)); err != nil {
			t.Fatalf("open connection during Close: %v", err)
		}
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a connection was open")
	case <-time.After(100 * time.Millisecond):
	}
	c.Close()
	end := time.Now()
	select {
	case at := <-closed:
		if d := at.Sub(end); d > time.Second {
			t.Fatalf("Close returned %v after the last connection ended", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return after the last connection ended")
	}
}

// Close cuts what is still open when its context ends, UDP flows included.
func TestCloseForces(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.23.1"), ip("127.0.23.11")
	port := testutil.FreePort(t, vip, rip)
	startTCP(t, "rs1", rip, port)
	startUDP(t, "urs1", ap(rip, port))
	mk := func(p model.Proto) model.Service {
		return model.Service{Name: p.String(), Active: true, Proto: p, VIP: vip, Port: port, Scheduler: model.SchedRR,
			RealServers: []model.RealServer{rs(rip, port, 1)}}
	}
	e.mustApply(&model.Config{Services: []model.Service{mk(model.ProtoTCP), mk(model.ProtoUDP)}})
	c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer c.Close()
	u := newUDPClient(t, ip("127.0.0.1"), ap(vip, port))
	u.ask("flow")
	if n := e.tbl.ConnCount(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.pl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Close took %v with a 200ms context", d)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("connection still open after a forced Close")
	}
	if n := e.tbl.ConnCount(); n != 0 {
		t.Fatalf("%d connections left in the table", n)
	}
	if _, err := e.pl.Prepare(context.Background(), &model.Config{}); err == nil {
		t.Fatal("Prepare after Close succeeded")
	}
}

// Traffic keeps a connection's table entry fresh: its expiry, which
// `govs list -c` shows, stays one timeout after the last byte.
func TestExpiryFollowsTraffic(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.21.2"), ip("127.0.21.12")
	const timeout = 30 * time.Second
	svc, _ := e.single(t, model.Global{TCPTimeout: timeout}, "x", vip, rip)
	port := svc.Port
	c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer c.Close()
	// 30 drops 50 ms apart: traffic for longer than the touch interval.
	if _, err := c.Write([]byte("drip 30\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c.r, make([]byte, 30)); err != nil {
		t.Fatal(err)
	}
	var exp time.Time
	e.tbl.Conns(func(tc *table.Conn) bool { exp = tc.Expires(); return false })
	if d := time.Until(exp); d < timeout-5*time.Second || d > timeout+time.Second {
		t.Fatalf("connection expires in %v after traffic just now, want about %v", d, timeout)
	}
}
