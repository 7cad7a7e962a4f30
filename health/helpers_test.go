package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// tick is the check interval of most tests: short enough to keep the suite
// fast, long enough for loopback checks to finish well inside it under
// -race on a loaded machine.
const tick = 100 * time.Millisecond

var vip = netip.MustParseAddr("192.0.2.10")

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rig is a real table with real schedulers and a running Manager.
type rig struct {
	t    *testing.T
	tbl  *table.Table
	m    *Manager
	logs *logBuf
	cfg  *model.Config
	stop func()
}

func newRig(t *testing.T, o Options) *rig {
	t.Helper()
	tbl := table.New(table.Options{NewScheduler: scheduler.New})
	logs := &logBuf{}
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
	waitFor(r.t, within, fmt.Sprintf("%s in %s to be %s", rs, svc, st), func() bool {
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
	ln     net.Listener
	handle func(net.Conn)
	wg     sync.WaitGroup
	conns  atomic.Int64
}

// newServer listens on host (e.g. "127.0.0.2") at a free port.
func newServer(t testing.TB, host string, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, addr: netip.MustParseAddrPort(ln.Addr().String()), handle: handle}
	s.serve(ln)
	t.Cleanup(s.down)
	return s
}

func (s *server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.mu.Lock()
				h := s.handle
				s.mu.Unlock()
				if h != nil {
					h(c)
				}
			}()
		}
	}()
}

// down closes the listener: connections are refused.
func (s *server) down() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	s.wg.Wait()
}

// up listens again on the same address.
func (s *server) up() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", s.addr.String()); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
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

// refusedAddr returns a loopback address and port with nothing listening.
func refusedAddr(t testing.TB, host string) netip.AddrPort {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return ap
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

var _ = errors.New
