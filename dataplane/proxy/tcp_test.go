package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// A persistent mark service bundling two ports sends one client to one
// real server on both ports, keeping the port it reached (real-server port
// 0); clients from other addresses spread; with a /24 persistence mask a
// whole /24 shares a server.
func TestMarkBundlePersistence(t *testing.T) {
	e := newEnv(t, Options{})
	vip, vip24 := ip("127.0.10.1"), ip("127.0.11.1")
	rips := []string{"127.0.10.11", "127.0.10.12", "127.0.10.13"}
	addrs := []netip.Addr{vip, vip24}
	for _, r := range rips {
		addrs = append(addrs, ip(r))
	}
	p1, p2 := testutil.FreePort(t, addrs...), testutil.FreePort(t, addrs...)
	var servers []model.RealServer
	for i, r := range rips {
		startTCP(t, fmt.Sprintf("rs%d", i+1), ip(r), p1, p2)
		servers = append(servers, rs(ip(r), 0, 1))
	}
	bundle := func(mark uint32, vip netip.Addr, prefix int) model.Service {
		return model.Service{Name: fmt.Sprint("mark", mark), Active: true, Proto: model.ProtoTCP, VIP: vip, Port: p1,
			FWMark: mark, MarkPorts: model.PortRanges{{First: p1, Last: p1}, {First: p2, Last: p2}},
			Scheduler: model.SchedRR, Persistence: model.Persistence{Timeout: time.Minute, PrefixLen: prefix},
			RealServers: servers}
	}
	e.mustApply(&model.Config{Services: []model.Service{bundle(1, vip, 0), bundle(2, vip24, 24)}})

	t.Run("one client, both ports", func(t *testing.T) {
		src := ip("127.1.0.1")
		first, _ := ident(t, src, ap(vip, p1))
		for range 3 {
			for _, port := range []uint16{p1, p2} {
				name, reached := ident(t, src, ap(vip, port))
				if name != first || reached != int(port) {
					t.Fatalf("client on port %d reached %s:%d, want %s:%d", port, name, reached, first, port)
				}
			}
		}
	})

	t.Run("clients spread", func(t *testing.T) {
		seen := map[string]int{}
		for i := 2; i <= 13; i++ {
			src := ip(fmt.Sprintf("127.1.0.%d", i))
			name, _ := ident(t, src, ap(vip, p1))
			seen[name]++
			if again, reached := ident(t, src, ap(vip, p2)); again != name || reached != int(p2) {
				t.Fatalf("client %s: %s on port %d, then %s:%d on port %d", src, name, p1, again, reached, p2)
			}
		}
		if len(seen) != len(rips) {
			t.Fatalf("12 clients reached %v, want all %d real servers", seen, len(rips))
		}
	})

	t.Run("prefix 24", func(t *testing.T) {
		byNet := map[string]string{}
		for n := 1; n <= 3; n++ {
			for h := 1; h <= 4; h++ {
				src := ip(fmt.Sprintf("127.2.%d.%d", n, h))
				port := []uint16{p1, p2}[h%2]
				name, reached := ident(t, src, ap(vip24, port))
				if reached != int(port) {
					t.Fatalf("client %s reached port %d, want %d", src, reached, port)
				}
				key := fmt.Sprint("127.2.", n)
				if prev, ok := byNet[key]; ok && prev != name {
					t.Fatalf("client %s reached %s, its /24 was sent to %s", src, name, prev)
				}
				byNet[key] = name
			}
		}
		distinct := map[string]bool{}
		for _, n := range byNet {
			distinct[n] = true
		}
		if len(distinct) != 3 {
			t.Fatalf("three /24s reached %v, want three real servers", byNet)
		}
	})
}

// wrr shares connections in proportion to the weights, and the real
// server's port replaces the virtual one.
func TestWRRShares(t *testing.T) {
	e := newEnv(t, Options{})
	vip := ip("127.0.12.1")
	rips := []netip.Addr{ip("127.0.12.11"), ip("127.0.12.12"), ip("127.0.12.13")}
	vport, rport := testutil.FreePort(t, vip), testutil.FreePort(t, rips...)
	svc := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: vport, Scheduler: model.SchedWRR}
	for i, r := range rips {
		startTCP(t, fmt.Sprintf("rs%d", i+1), r, rport)
		svc.RealServers = append(svc.RealServers, rs(r, rport, i+1))
	}
	e.mustApply(&model.Config{Services: []model.Service{svc}})
	got := map[string]int{}
	for range 60 {
		name, port := ident(t, ip("127.0.0.1"), ap(vip, vport))
		if port != int(rport) {
			t.Fatalf("reached port %d, want the real server's %d", port, rport)
		}
		got[name]++
	}
	if got["rs1"] != 10 || got["rs2"] != 20 || got["rs3"] != 30 {
		t.Fatalf("shares %v, want rs1:10 rs2:20 rs3:30", got)
	}
}

// A quiesced real server keeps its open connection and gets no new ones.
func TestQuiesce(t *testing.T) {
	e := newEnv(t, Options{})
	vip := ip("127.0.14.1")
	r1, r2 := ip("127.0.14.11"), ip("127.0.14.12")
	port := testutil.FreePort(t, vip, r1, r2)
	startTCP(t, "rs1", r1, port)
	startTCP(t, "rs2", r2, port)
	svc := model.Service{Name: "q", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(r1, port, 1), rs(r2, port, 1)}}
	e.mustApply(&model.Config{Services: []model.Service{svc}})
	c, first, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer c.Close()
	quiet, other := r1, "rs2"
	if first == "rs2" {
		quiet, other = r2, "rs1"
	}
	if !e.svc(svc.Key()).SetState(model.DestKey{Addr: quiet, Port: port}, table.StateQuiesced, "test") {
		t.Fatal("SetState found no real server")
	}
	for i := range 6 {
		if name, _ := ident(t, ip("127.0.0.1"), ap(vip, port)); name != other {
			t.Fatalf("new connection %d went to %s while %s is quiesced", i, name, first)
		}
		if err := c.echo(fmt.Sprint("still there ", i)); err != nil {
			t.Fatalf("open connection to quiesced server: %v", err)
		}
	}
}

// A client's half-close reaches the real server, which still sends; the
// connection is in FIN_WAIT meanwhile and fully released afterwards.
func TestHalfClose(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.15.1"), ip("127.0.15.11")
	svc, _ := e.single(t, model.Global{}, "h", vip, rip)
	port := svc.Port
	c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer c.Close()
	payload := strings.Repeat("x", 100000)
	if _, err := c.Write([]byte("sink\n" + payload)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*time.Second, "FIN_WAIT", func() bool {
		st := table.ConnNone
		e.tbl.Conns(func(c *table.Conn) bool { st = c.State(); return false })
		return st == table.ConnFinWait
	})
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading after half-close: %v", err)
	}
	if want := fmt.Sprintf("got %d\n", len(payload)); string(rest) != want {
		t.Fatalf("after half-close got %q, want %q", rest, want)
	}
	d := e.svc(svc.Key()).Dests()[0]
	// Closed, the entry lingers in TIME_WAIT as an inactive one.
	testutil.WaitFor(t, 2*time.Second, "connection released", func() bool {
		return e.tbl.ConnCount() == 0 && d.ActiveConns() == 0 && d.InactiveConns() == 1
	})
}

// An idle connection is closed after tcp_timeout; one busy in either
// direction is not, even when the other direction is silent.
func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.16.1"), ip("127.0.16.11")
	// Generous against a loaded machine: a starved drip server would look idle.
	const timeout = 500 * time.Millisecond
	svc, _ := e.single(t, model.Global{TCPTimeout: timeout}, "i", vip, rip)
	port := svc.Port

	// The idle connection's last byte, its greeting, passes after start.
	start := time.Now()
	idle, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer idle.Close()
	chatty, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer chatty.Close()
	download, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	defer download.Close()

	idleDone := make(chan time.Duration, 1)
	go func() {
		io.ReadAll(idle)
		idleDone <- time.Since(start)
	}()
	// The download client speaks once, then only reads for 4 timeouts.
	if _, err := download.Write([]byte("drip 40\n")); err != nil {
		t.Fatal(err)
	}
	dripped := make(chan error, 1)
	go func() {
		buf := make([]byte, 40)
		_, err := io.ReadFull(download, buf)
		dripped <- err
	}()
	for i := 0; time.Since(start) < 4*timeout; i++ {
		if err := chatty.echo(fmt.Sprint("ping ", i)); err != nil {
			t.Fatalf("busy connection broke after %v: %v", time.Since(start), err)
		}
		time.Sleep(timeout / 6)
	}
	if err := <-dripped; err != nil {
		t.Fatalf("download with a silent client broke: %v", err)
	}
	select {
	case d := <-idleDone:
		// The goroutine path reads a clock that ticks every clockRes.
		if d < timeout-clockRes {
			t.Fatalf("idle connection closed after %v, before its timeout %v", d, timeout)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("idle connection not closed")
	}
}

// A reset passes through as a reset, as the kernel forwards a RST: a real
// server that resets after part of a response leaves the client with an
// error, not a clean end of a truncated response; a client that resets
// leaves the real server with one. The entry goes to CLOSE, as the
// kernel's does on a RST.
func TestResetPassesThrough(t *testing.T) {
	e := newEnv(t, Options{})
	vip, rip := ip("127.0.16.1"), ip("127.0.16.11")
	svc, srv := e.single(t, model.Global{}, "r", vip, rip)
	port := svc.Port

	c, _, _ := hello(t, ip("127.0.0.1"), ap(vip, port))
	if _, err := c.Write([]byte("reset 1000\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err == nil || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after the real server's reset the client read %d bytes and %v, want a reset", len(got), err)
	}
	testutil.WaitFor(t, 2*time.Second, "the entry in CLOSE", func() bool {
		for _, cs := range e.tbl.ConnSnapshot() {
			if cs.State == "CLOSE" {
				return true
			}
		}
		return false
	})

	c, _, _ = hello(t, ip("127.0.0.1"), ap(vip, port))
	if _, err := c.Write([]byte("hold\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	c.SetLinger(0)
	c.Close()
	testutil.WaitFor(t, 2*time.Second, "the real server to see the client's end", func() bool { return srv.heldErr() != nil })
	if err := srv.heldErr(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after the client's reset the real server read %v, want a reset", err)
	}
}
