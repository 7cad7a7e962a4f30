package health

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// tick is the check interval of most tests: short enough to keep the suite
// fast, long enough for loopback checks to finish well inside it under
// -race on a loaded machine.
const tick = 100 * time.Millisecond

var vip = netip.MustParseAddr("192.0.2.10")

// holds asserts that cond stays true for d.
func holds(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rig is a real table with real schedulers and a running Manager.
type rig struct {
	t    *testing.T
	tbl  *table.Table
	m    *Manager
	logs *testutil.Buffer
	cfg  *model.Config
	stop func()
}

func newRig(t *testing.T, o Options) *rig {
	t.Helper()
	tbl := table.New(table.Options{NewScheduler: scheduler.New})
	logs := &testutil.Buffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r := &rig{t: t, tbl: tbl, m: New(tbl, o), logs: logs}
	return r
}

// apply applies cfg to the table then the Manager, as the router does.
func (r *rig) apply(cfg *model.Config) {
	r.t.Helper()
	if _, err := r.tbl.Apply(cfg); err != nil {
		r.t.Fatal(err)
	}
	r.m.Apply(cfg)
	r.cfg = cfg
}

func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.m.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					r.t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				r.t.Errorf("Run did not return after cancel")
			}
		})
	}
	r.t.Cleanup(r.stop)
}

func (r *rig) dest(svc model.ServiceKey, rs model.DestKey) *table.Dest {
	s := r.tbl.Service(svc)
	if s == nil {
		r.t.Fatalf("no service %s", svc)
	}
	d := s.Dest(rs)
	if d == nil {
		r.t.Fatalf("no real server %s in %s", rs, svc)
	}
	return d
}

func (r *rig) state(svc model.ServiceKey, rs model.DestKey) table.State {
	return r.dest(svc, rs).State()
}

func (r *rig) waitState(svc model.ServiceKey, rs model.DestKey, st table.State, within time.Duration) {
	r.t.Helper()
	testutil.WaitFor(r.t, within, fmt.Sprintf("%s in %s to be %s", rs, svc, st), func() bool {
		return r.state(svc, rs) == st
	})
}

// schedule opens n connections on svc and counts them per real server
// address:port; the connections are closed again.
func (r *rig) schedule(svc model.ServiceKey, n int) map[netip.AddrPort]int {
	r.t.Helper()
	s := r.tbl.Service(svc)
	out := map[netip.AddrPort]int{}
	for i := range n {
		c, err := s.Schedule(&table.Packet{Proto: model.ProtoTCP,
			Src: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(10000+i)),
			Dst: netip.AddrPortFrom(svc.Addr, svc.Port)})
		if err != nil {
			out[netip.AddrPort{}]++
			continue
		}
		out[c.Target]++
		c.Close()
	}
	return out
}

func (r *rig) monitor(target model.DestKey) MonitorStatus {
	r.t.Helper()
	for _, s := range r.m.Status() {
		if s.Target == target {
			return s
		}
	}
	r.t.Fatalf("no monitor for %s", target)
	return MonitorStatus{}
}

// service builds an active TCP service on vip:port.
func service(name string, port uint16, check model.Check, servers ...model.RealServer) model.Service {
	if check.Interval == 0 {
		check.Interval = tick
	}
	return model.Service{Name: name, Active: true, Proto: model.ProtoTCP, VIP: vip, Port: port,
		Scheduler: model.SchedWRR, Check: check, RealServers: servers}
}

func realServer(ap netip.AddrPort, weight int) model.RealServer {
	return model.RealServer{Name: ap.String(), Addr: ap.Addr(), Port: ap.Port(), Weight: weight, Active: true}
}

func key(ap netip.AddrPort) model.DestKey { return model.DestKey{Addr: ap.Addr(), Port: ap.Port()} }

// server is a TCP listener on loopback that can go down and come back on
// the same address, answering each connection with handle.
type server struct {
	t      testing.TB
	addr   netip.AddrPort
	mu     sync.Mutex
	srv    *testutil.Server // nil while down
	handle func(net.Conn)
}

// newServer listens on host (e.g. "127.0.0.2") at a port the kernel picks.
func newServer(t testing.TB, host string, handle func(net.Conn)) *server {
	t.Helper()
	s := &server{t: t, handle: handle}
	ln := testutil.Listen(t, "tcp", net.JoinHostPort(host, "0"))
	s.addr = netip.MustParseAddrPort(ln.Addr().String())
	s.serve(ln)
	return s
}

func (s *server) serve(ln net.Listener) {
	srv := testutil.Serve(s.t, ln, func(c net.Conn) {
		s.mu.Lock()
		h := s.handle
		s.mu.Unlock()
		if h != nil {
			h(c)
		}
	})
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

// down closes the listener: connections are refused. Those being served
// are served to the end.
func (s *server) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

// up listens again on the same address.
func (s *server) up() {
	s.t.Helper()
	s.serve(testutil.Listen(s.t, "tcp", s.addr.String()))
}

func (s *server) setHandler(h func(net.Conn)) {
	s.mu.Lock()
	s.handle = h
	s.mu.Unlock()
}

// reply returns a handler that reads what the check sends (if anything
// arrives within a moment) and writes answer.
func reply(answer string) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, answer)
		io.Copy(io.Discard, c)
	}
}

// refusedAddr returns an address of host with nothing listening on its
// port, for TCP or UDP.
func refusedAddr(t testing.TB, host string) netip.AddrPort {
	t.Helper()
	a := netip.MustParseAddr(host)
	return netip.AddrPortFrom(a, testutil.FreePort(t, a))
}

// probeOnce builds the probe of a check for a target and runs it once.
func probeOnce(t testing.TB, svc model.Service, rs model.RealServer, env probeEnv) error {
	t.Helper()
	sp := buildSpec(&svc, rs)
	if len(sp.problems) > 0 {
		t.Fatalf("problems: %v", sp.problems)
	}
	p := newProber(sp.probe, sp.addr, sp.port, env)
	return p.check(context.Background(), time.Now().Add(sp.probe.interval))
}

func wantErr(t testing.TB, err error, substr string) {
	t.Helper()
	if substr == "" {
		if err != nil {
			t.Fatalf("check failed: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("check passed, want failure containing %q", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err, substr)
	}
}
