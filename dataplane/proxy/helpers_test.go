package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/internal/testutil/reload"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

const isLinux = runtime.GOOS == "linux"

// Test schedulers, so these tests do not depend on package scheduler.

type rrSched struct {
	mu   sync.Mutex
	list []*table.Dest
	i    int
}

func (s *rrSched) Name() model.Scheduler { return model.SchedRR }

func (s *rrSched) Update(d []*table.Dest) {
	s.mu.Lock()
	s.list = d
	if s.i >= len(d) {
		s.i = -1
	}
	s.mu.Unlock()
}

func (s *rrSched) Schedule(*table.Packet) *table.Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.list)
	for range n {
		s.i = (s.i + 1) % n
		if d := s.list[s.i]; d.Eligible() {
			return d
		}
	}
	return nil
}

// wrrSched is the kernel's interleaved weighted round robin.
type wrrSched struct {
	mu             sync.Mutex
	list           []*table.Dest
	i, cw, mw, div int
}

func (s *wrrSched) Name() model.Scheduler { return model.SchedWRR }

func (s *wrrSched) Update(d []*table.Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list, s.i, s.cw, s.mw, s.div = d, -1, 0, 0, 0
	for _, x := range d {
		if w := x.Weight(); w > 0 {
			s.mw = max(s.mw, w)
			a, b := s.div, w
			for b != 0 {
				a, b = b, a%b
			}
			s.div = a
		}
	}
}

func (s *wrrSched) Schedule(*table.Packet) *table.Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.list)
	if n == 0 || s.mw == 0 {
		return nil
	}
	for range n * (s.mw/s.div + 1) {
		s.i = (s.i + 1) % n
		if s.i == 0 {
			s.cw -= s.div
			if s.cw <= 0 {
				s.cw = s.mw
			}
		}
		if d := s.list[s.i]; d.Eligible() && d.Weight() >= s.cw {
			return d
		}
	}
	return nil
}

func testSched(name model.Scheduler, _ model.SchedFlags) (table.Scheduler, error) {
	switch name {
	case model.SchedRR:
		return &rrSched{i: -1}, nil
	case model.SchedWRR:
		return &wrrSched{i: -1}, nil
	}
	return nil, fmt.Errorf("test scheduler %q not available", name)
}

// checkLeaks fails the test if goroutines started during it outlive it.
// Register it first, so that its cleanup runs last.
func checkLeaks(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

type env struct {
	t   testing.TB
	tbl *table.Table
	pl  *Plane
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	checkLeaks(t)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel}))
	}
	// scripts/test.sh runs the package once more on the goroutine path,
	// which is what other systems than Linux get.
	if os.Getenv("GOVS_PROXY_GOROUTINES") == "1" {
		o.Goroutines = true
	}
	tbl := table.New(table.Options{NewScheduler: testSched})
	e := &env{t: t, tbl: tbl, pl: New(tbl, o)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := e.pl.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

// apply reloads cfg the way the router does: prepare, apply, commit.
func (e *env) apply(cfg *model.Config) error { return reload.Apply(e.pl, e.tbl, cfg) }

func (e *env) mustApply(cfg *model.Config) {
	e.t.Helper()
	if err := e.apply(cfg); err != nil {
		e.t.Fatalf("apply: %v", err)
	}
}

func (e *env) svc(k model.ServiceKey) *table.Service {
	e.t.Helper()
	s := e.tbl.Service(k)
	if s == nil {
		e.t.Fatalf("no service %s", k)
	}
	return s
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func rs(a netip.Addr, port uint16, w int) model.RealServer {
	return model.RealServer{Name: a.String(), Addr: a, Port: port, Weight: w, Active: true}
}

// tcpServer is a real server. On accept it writes "NAME PORT\n" (PORT is
// the port it was reached on), then obeys line commands:
//
//	drip N    write "." every 50 ms, N times
//	send N    write N bytes
//	pattern N write N bytes of pattern(N)
//	sink      read to EOF, wait 300 ms, write "got N\n", close
//	anything else is echoed
//
// With proxy set, it first reads a PROXY protocol header and sends
// "PROXY vV SRC DST\n" before the greeting.
type tcpServer struct {
	name  string
	proxy bool
	// port is the port it listens on first: the one the kernel picked,
	// for port 0.
	port uint16
	mu   sync.Mutex
	// held is how the last "hold" ended: the error its read returned.
	held error
}

// heldErr returns how the last "hold" ended, nil while none has.
func (s *tcpServer) heldErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

func startTCP(t testing.TB, name string, a netip.Addr, ports ...uint16) *tcpServer {
	t.Helper()
	return startTCPServer(t, &tcpServer{name: name}, a, ports...)
}

// startProxyTCP starts a real server that expects PROXY protocol headers.
func startProxyTCP(t testing.TB, name string, a netip.Addr, ports ...uint16) *tcpServer {
	t.Helper()
	return startTCPServer(t, &tcpServer{name: name, proxy: true}, a, ports...)
}

func startTCPServer(t testing.TB, s *tcpServer, a netip.Addr, ports ...uint16) *tcpServer {
	t.Helper()
	for i, port := range ports {
		ln := testutil.Listen(t, "tcp", ap(a, port).String())
		if i == 0 {
			s.port = uint16(ln.Addr().(*net.TCPAddr).Port)
		}
		testutil.Serve(t, ln, s.handle)
	}
	return s
}

func (s *tcpServer) handle(c net.Conn) {
	r := bufio.NewReader(c)
	if s.proxy {
		h, err := proxyproto.Read(r)
		if err != nil {
			fmt.Fprintf(c, "PROXY error %v\n", err)
			return
		}
		fmt.Fprintf(c, "PROXY v%d %s %s\n", h.Version, h.SourceAddr, h.DestinationAddr)
	}
	fmt.Fprintf(c, "%s %d\n", s.name, c.LocalAddr().(*net.TCPAddr).Port)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, _ := strconv.Atoi(arg)
		switch cmd {
		case "drip":
			for range n {
				if _, err := c.Write([]byte(".")); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		case "send":
			if _, err := c.Write(make([]byte, n)); err != nil {
				return
			}
		case "pattern":
			if _, err := c.Write(pattern(n)); err != nil {
				return
			}
		case "reset":
			// n bytes, then a reset instead of a FIN.
			_, _ = c.Write(pattern(n))
			time.Sleep(50 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return
		case "hold":
			// Read until the connection ends, and remember how.
			_, err := r.ReadByte()
			s.mu.Lock()
			s.held = err
			s.mu.Unlock()
			return
		case "sink":
			got, _ := io.Copy(io.Discard, r)
			time.Sleep(300 * time.Millisecond)
			fmt.Fprintf(c, "got %d\n", got)
			return
		default:
			if _, err := c.Write([]byte(line)); err != nil {
				return
			}
		}
	}
}

// client is a test client connection.
type client struct {
	*net.TCPConn
	r *bufio.Reader
}

// dialFrom connects to dst from source address src (any port).
func dialFrom(src netip.Addr, dst netip.AddrPort) (*client, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(ap(src, 0))
	}
	c, err := d.Dial("tcp", dst.String())
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return &client{c.(*net.TCPConn), bufio.NewReader(c)}, nil
}

// line reads one line without its newline.
func (c *client) line() (string, error) {
	s, err := c.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// hello dials and reads the greeting: the real server's name and the port
// it was reached on.
func hello(t *testing.T, src netip.Addr, dst netip.AddrPort) (*client, string, int) {
	t.Helper()
	c, err := dialFrom(src, dst)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", dst, src, err)
	}
	l, err := c.line()
	if err != nil {
		c.Close()
		t.Fatalf("greeting via %s from %s: %v", dst, src, err)
	}
	name, port, _ := strings.Cut(l, " ")
	n, _ := strconv.Atoi(port)
	return c, name, n
}

// ident connects, reads the greeting and closes.
func ident(t *testing.T, src netip.Addr, dst netip.AddrPort) (string, int) {
	t.Helper()
	c, name, port := hello(t, src, dst)
	c.Close()
	return name, port
}

// holdN opens n connections from src to dst, each greeted by the real
// server want, and returns them open.
func holdN(t *testing.T, n int, want string, src netip.Addr, dst netip.AddrPort) []*client {
	t.Helper()
	var held []*client
	for range n {
		c, name, _ := hello(t, src, dst)
		if name != want {
			t.Fatalf("answered by %q, want %s", name, want)
		}
		held = append(held, c)
	}
	return held
}

// echo sends a line and expects it back.
func (c *client) echo(s string) error {
	if _, err := c.Write([]byte(s + "\n")); err != nil {
		return err
	}
	got, err := c.line()
	if err != nil {
		return err
	}
	if got != s {
		return fmt.Errorf("echo: sent %q, got %q", s, got)
	}
	return nil
}

// startUDP starts a UDP real server that answers every datagram with
// "NAME|payload", and returns its port (the kernel's pick for port 0).
func startUDP(t testing.TB, name string, a netip.AddrPort) uint16 {
	t.Helper()
	pc := testutil.ListenPacket(t, "udp", a.String())
	testutil.ServePacket(t, pc, func(req []byte, reply func([]byte)) { reply(append([]byte(name+"|"), req...)) })
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}

var testLogLevel = func() slog.Level {
	if os.Getenv("PROXY_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}()

// pattern returns n bytes in which a lost, repeated or reordered stretch
// shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i ^ i>>8 ^ i>>16)
	}
	return b
}

// eachCopyMode runs f as a subtest for each of the two ways the proxy
// copies TCP bytes, splice and buffered, each with a plane of its own
// serving the one TCP service of single on vip and rip; f gets the
// service's port.
func eachCopyMode(t *testing.T, name string, vip, rip netip.Addr, f func(t *testing.T, e *env, port uint16)) {
	for _, mode := range []struct {
		name string
		opt  Options
	}{{"splice", Options{}}, {"buffered", Options{NoSplice: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, mode.opt)
			svc, _ := e.single(t, model.Global{}, name, vip, rip)
			f(t, e, svc.Port)
		})
	}
}

// single serves one TCP service named name on vip, round robin over one
// real server, rs1, on rip at the same port, under the global settings g,
// and returns the service and its real server.
func (e *env) single(t *testing.T, g model.Global, name string, vip, rip netip.Addr) (model.Service, *tcpServer) {
	t.Helper()
	port := testutil.FreePort(t, vip, rip)
	srv := startTCP(t, "rs1", rip, port)
	svc := model.Service{Name: name, Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port, Scheduler: model.SchedRR,
		RealServers: []model.RealServer{rs(rip, port, 1)}}
	e.mustApply(&model.Config{Global: g, Services: []model.Service{svc}})
	return svc, srv
}
