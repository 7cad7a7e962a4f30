package table_test

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs/govs/clock"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// rrSched is a plain round robin over eligible dests, enough to make the
// table's own behaviour (persistence, accounting, reload) observable without
// depending on package scheduler.
type rrSched struct {
	list atomic.Pointer[[]*table.Dest]
	pos  atomic.Uint64
}

func (r *rrSched) Name() model.Scheduler   { return model.SchedRR }
func (r *rrSched) Update(ds []*table.Dest) { r.list.Store(&ds) }
func (r *rrSched) Schedule(*table.Packet) *table.Dest {
	l := *r.list.Load()
	for range len(l) {
		d := l[int(r.pos.Add(1)-1)%len(l)]
		if d.Eligible() {
			return d
		}
	}
	return nil
}

func newSched(name model.Scheduler, _ model.SchedFlags) (table.Scheduler, error) {
	if !name.Valid() {
		return nil, fmt.Errorf("unknown scheduler %q", name)
	}
	return &rrSched{}, nil
}

var (
	vip  = netip.MustParseAddr("192.0.2.100")
	rs1  = netip.MustParseAddr("198.51.100.1")
	rs2  = netip.MustParseAddr("198.51.100.2")
	rs3  = netip.MustParseAddr("198.51.100.3")
	t0   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mark = model.MarkKey(model.IPv4, 80)
)

func realServers(port uint16, addrs ...netip.Addr) []model.RealServer {
	var out []model.RealServer
	for i, a := range addrs {
		out = append(out, model.RealServer{Name: fmt.Sprint("rs", i+1), Addr: a, Port: port, Weight: 1, Active: true})
	}
	return out
}

func markService(timeout time.Duration, prefix int) model.Service {
	return model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 80,
		FWMark: 80, MarkPorts: model.PortRanges{{First: 80, Last: 80}, {First: 443, Last: 443}}, Scheduler: model.SchedRR,
		Persistence: model.Persistence{Timeout: timeout, PrefixLen: prefix},
		RealServers: realServers(0, rs1, rs2, rs3)}
}

func newTable(t *testing.T, c *clock.Fake, svcs ...model.Service) *table.Table {
	t.Helper()
	tb := table.New(table.Options{Clock: c, NewScheduler: newSched})
	if _, err := tb.Apply(&model.Config{Services: svcs}); err != nil {
		t.Fatal(err)
	}
	return tb
}

func pkt(src string, dport uint16) *table.Packet {
	return &table.Packet{Proto: model.ProtoTCP, Src: netip.MustParseAddrPort(src),
		Dst: netip.AddrPortFrom(vip, dport)}
}

func mustSchedule(t *testing.T, s *table.Service, p *table.Packet) *table.Conn {
	t.Helper()
	c, err := s.Schedule(p)
	if err != nil {
		t.Fatalf("schedule %v: %v", p.Src, err)
	}
	return c
}

// A client's connections to :80 and :443 of a persistent mark service land
// on one real server, and each keeps its destination port (the kernel's
// fwmark template <IPPROTO_IP, caddr, 0, fwmark, 0, daddr, 0>).
func TestMarkPersistenceAcrossPorts(t *testing.T) {
	c := clock.NewFake(t0)
	tb := newTable(t, c, markService(300*time.Second, 0))
	s := tb.Service(mark)
	for i, client := range []string{"203.0.113.5", "203.0.113.6", "203.0.113.7", "203.0.113.8"} {
		a := mustSchedule(t, s, pkt(client+":40000", 80))
		b := mustSchedule(t, s, pkt(client+":40001", 443))
		if a.Dest() != b.Dest() {
			t.Errorf("client %d: port 80 went to %v, port 443 to %v", i, a.Dest().Key(), b.Dest().Key())
		}
		if a.Target.Port() != 80 || b.Target.Port() != 443 {
			t.Errorf("targets %v %v: want the client's ports kept", a.Target, b.Target)
		}
	}
	// Four clients over three servers under rr: the first three got
	// distinct servers, proving clients are spread and not all stuck to one.
	seen := map[model.DestKey]bool{}
	for _, d := range s.Dests() {
		if d.PersistConns() > 0 {
			seen[d.Key()] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("templates on %d servers, want 3", len(seen))
	}
}

// Under pmask 255.255.255.0 clients of one /24 share a server; under /32
// they are scheduled one by one.
func TestPersistenceNetmask(t *testing.T) {
	for _, tc := range []struct {
		prefix   int
		wantSame bool
	}{{24, true}, {0, false}} {
		c := clock.NewFake(t0)
		tb := newTable(t, c, markService(300*time.Second, tc.prefix))
		s := tb.Service(mark)
		a := mustSchedule(t, s, pkt("203.0.113.10:1000", 80))
		b := mustSchedule(t, s, pkt("203.0.113.200:1000", 80))
		if got := a.Dest() == b.Dest(); got != tc.wantSame {
			t.Errorf("prefix %d: same server = %v, want %v", tc.prefix, got, tc.wantSame)
		}
		other := mustSchedule(t, s, pkt("198.51.100.77:1000", 443))
		if tc.prefix == 24 && other.Dest() == a.Dest() {
			t.Errorf("another /24 landed on the first network's server under rr")
		}
	}
}

// A template holds while it controls connections and expires `timeout`
// after the last one closes.
func TestPersistenceExpiry(t *testing.T) {
	c := clock.NewFake(t0)
	tb := newTable(t, c, markService(60*time.Second, 0))
	s := tb.Service(mark)
	first := mustSchedule(t, s, pkt("203.0.113.5:1", 80))
	c.Advance(10 * time.Minute) // far beyond the timeout, but the conn is open
	tb.Tick()
	again := mustSchedule(t, s, pkt("203.0.113.5:2", 443))
	if again.Dest() != first.Dest() {
		t.Fatal("template expired while it controlled a live connection")
	}
	first.Close()
	again.Close()
	c.Advance(59 * time.Second)
	third := mustSchedule(t, s, pkt("203.0.113.5:3", 80))
	if third.Dest() != first.Dest() {
		t.Fatal("template expired before its timeout")
	}
	third.Close()
	c.Advance(61 * time.Second)
	tb.Tick()
	if n := first.Dest().PersistConns(); n != 0 {
		t.Fatalf("persist conns after expiry = %d, want 0", n)
	}
	// rr moves on: the next pick for the same client is another server.
	fourth := mustSchedule(t, s, pkt("203.0.113.5:4", 80))
	if fourth.Dest() == first.Dest() {
		t.Fatal("expired template still sent the client to its old server")
	}
}

// A quiesced server keeps its persistent clients (kernel default); with
// expire_quiescent_template they are rescheduled. A down (removed) server's
// templates are dropped.
func TestPersistenceQuiesceAndRemoval(t *testing.T) {
	// Quiesced by a health check or drained by the operator, a real
	// server is at weight 0 on the kernel plane, where its persistent
	// clients stay unless expire_quiescent_template is set (globally, as
	// the kernel's sysctl, or for the service with expire_quiescent).
	for _, tc := range []struct {
		state          table.State
		global, expire bool
	}{
		{table.StateQuiesced, false, false}, {table.StateQuiesced, false, true}, {table.StateQuiesced, true, false},
		{table.StateDraining, false, false}, {table.StateDraining, true, false}, {table.StateDraining, false, true},
	} {
		c := clock.NewFake(t0)
		svc := markService(300*time.Second, 0)
		svc.Persistence.ExpireQuiescent = tc.expire
		tb := table.New(table.Options{Clock: c, NewScheduler: newSched})
		if _, err := tb.Apply(&model.Config{Global: model.Global{ExpireQuiescentTemplate: tc.global},
			Services: []model.Service{svc}}); err != nil {
			t.Fatal(err)
		}
		expire := tc.global || tc.expire
		s := tb.Service(mark)
		a := mustSchedule(t, s, pkt("203.0.113.5:1", 80))
		s.SetState(a.Dest().Key(), tc.state, "test")
		b := mustSchedule(t, s, pkt("203.0.113.5:2", 443))
		if stuck := b.Dest() == a.Dest(); stuck == expire {
			t.Errorf("%v, expire_quiescent_template %v, expire_quiescent %v: client stayed = %v",
				tc.state, tc.global, tc.expire, stuck)
		}
		// A new client never goes to the quiesced server.
		for i := range 6 {
			n := mustSchedule(t, s, pkt(fmt.Sprintf("203.0.113.%d:1", 50+i), 80))
			if n.Dest() == a.Dest() {
				t.Fatal("new client scheduled to a quiesced server")
			}
		}
	}

	c := clock.NewFake(t0)
	tb := newTable(t, c, markService(300*time.Second, 0))
	s := tb.Service(mark)
	a := mustSchedule(t, s, pkt("203.0.113.5:1", 80))
	s.SetState(a.Dest().Key(), table.StateDown, "connect refused")
	if n := a.Dest().PersistConns(); n != 0 {
		t.Errorf("down server keeps %d templates", n)
	}
	b := mustSchedule(t, s, pkt("203.0.113.5:2", 80))
	if b.Dest() == a.Dest() {
		t.Fatal("client sent to a down server")
	}
	// The open connection to the down server still counts until it closes.
	if a.Dest().InactiveConns() != 1 {
		t.Errorf("inactive conns = %d, want 1", a.Dest().InactiveConns())
	}
	// Closed before it was established, its entry lingers in CLOSE for
	// the kernel's 10 s, still inactive, then goes.
	a.Close()
	if a.Dest().InactiveConns() != 1 || a.State() != table.ConnClose {
		t.Errorf("after close: %d inactive, state %v; want 1, CLOSE", a.Dest().InactiveConns(), a.State())
	}
	c.Advance(table.CloseTimeout)
	tb.Expire()
	if a.Dest().InactiveConns() != 0 {
		t.Errorf("inactive conns after the CLOSE timeout = %d", a.Dest().InactiveConns())
	}
}

// Removing a real server by reload drops its templates: its clients are
// rescheduled, while its open connections drain.
func TestReloadRemovesServer(t *testing.T) {
	c := clock.NewFake(t0)
	svc := markService(300*time.Second, 0)
	tb := newTable(t, c, svc)
	s := tb.Service(mark)
	a := mustSchedule(t, s, pkt("203.0.113.5:1", 80))
	a.SetState(table.ConnEstablished)
	victim := a.Dest().Key()
	var keep []model.RealServer
	for _, r := range svc.RealServers {
		if r.Key() != victim {
			keep = append(keep, r)
		}
	}
	svc.RealServers = keep
	ch, err := tb.Apply(&model.Config{Services: []model.Service{svc}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Updated) != 1 || tb.Service(mark) != s {
		t.Fatalf("changes %+v: want the same service updated in place", ch)
	}
	b := mustSchedule(t, s, pkt("203.0.113.5:2", 80))
	if b.Dest().Key() == victim {
		t.Fatal("client of a removed server was not rescheduled")
	}
	snap := tb.Snapshot()
	var draining bool
	for _, d := range snap.Services[0].Dests {
		if d.Addr == victim.Addr.String() {
			draining = d.Removed && d.ActiveConns == 1
		}
	}
	if !draining {
		t.Fatalf("removed server with an open connection not listed as draining: %+v", snap.Services[0].Dests)
	}
	// Its last connection lingers in TIME_WAIT, as in the kernel, which
	// keeps the removed server until then.
	a.Close()
	if n := listed(tb); n != 3 {
		t.Fatalf("the removed server left while its connection's entry lingers (%d dests)", n)
	}
	pastTimeWait(c, tb)
	if n := listed(tb); n != 2 {
		t.Fatalf("after its last connection the removed server is still listed (%d dests)", n)
	}
}

// Active and inactive counts follow the connection state as the kernel's
// do; counters and the overload thresholds follow ip_vs_bind_dest.
func TestAccountingAndThresholds(t *testing.T) {
	c := clock.NewFake(t0)
	svc := model.Service{Name: "one", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 80,
		Scheduler: model.SchedRR, RealServers: []model.RealServer{
			{Addr: rs1, Port: 8080, Weight: 1, Active: true, UpperThreshold: 4, LowerThreshold: 2}}}
	tb := newTable(t, c, svc)
	s := tb.Service(model.TCPKey(netip.AddrPortFrom(vip, 80)))
	d := s.Dests()[0]
	var conns []*table.Conn
	for i := range 4 {
		cn := mustSchedule(t, s, pkt(fmt.Sprintf("203.0.113.9:%d", 100+i), 80))
		if cn.Target != netip.AddrPortFrom(rs1, 8080) {
			t.Fatalf("target %v, want the real server's port", cn.Target)
		}
		conns = append(conns, cn)
	}
	conns[0].SetState(table.ConnEstablished)
	conns[1].SetState(table.ConnEstablished)
	if d.ActiveConns() != 2 || d.InactiveConns() != 2 || d.Overhead() != 2*256+2 {
		t.Fatalf("active %d inactive %d overhead %d", d.ActiveConns(), d.InactiveConns(), d.Overhead())
	}
	if !d.Overloaded() {
		t.Fatal("4 connections reached uthreshold 4 but the server is not overloaded")
	}
	if _, err := s.Schedule(pkt("203.0.113.9:200", 80)); err != table.ErrNoDest {
		t.Fatalf("overloaded only server: err %v, want ErrNoDest", err)
	}
	// Closed entries count until they expire: the kernel's threshold is
	// on active + inactive, TIME_WAIT included.
	conns[3].Close()
	conns[2].Close()
	if !d.Overloaded() || d.InactiveConns() != 2 {
		t.Fatalf("closing made the lingering entries stop counting: overloaded %v, %d inactive", d.Overloaded(), d.InactiveConns())
	}
	pastTimeWait(c, tb) // 2 left: not below lthreshold 2
	if !d.Overloaded() {
		t.Fatal("overload cleared at 2 connections with lthreshold 2")
	}
	conns[1].AddIn(3, 300)
	conns[1].AddOut(5, 5000)
	conns[1].Close()
	pastTimeWait(c, tb) // 1 < 2
	if d.Overloaded() {
		t.Fatal("overload not cleared below lthreshold")
	}
	conns[0].Close()
	st := d.Counters.Snapshot()
	if st.Conns != 4 || st.InPkts != 3 || st.InBytes != 300 || st.OutPkts != 5 || st.OutBytes != 5000 {
		t.Fatalf("dest counters %+v", st)
	}
	if s.Counters.Snapshot() != st {
		t.Fatalf("service counters %+v differ from its only server's %+v", s.Counters.Snapshot(), st)
	}
	if tb.ConnCount() != 0 || d.InactiveConns() != 1 || tb.EntryCount() != 1 {
		t.Fatalf("after every close: %d open, %d inactive, %d entries; want 0, 1, 1", tb.ConnCount(), d.InactiveConns(), tb.EntryCount())
	}
	pastTimeWait(c, tb)
	if d.ActiveConns() != 0 || d.InactiveConns() != 0 || tb.EntryCount() != 0 {
		t.Fatal("counts not back to zero after every entry expired")
	}
}

// Rates follow the kernel estimator: a steady 100 conn/s converges to 100.
func TestRates(t *testing.T) {
	c := clock.NewFake(t0)
	svc := markService(0, 0)
	tb := newTable(t, c, svc)
	s := tb.Service(mark)
	tb.Tick()
	for range 40 { // 80 s of samples
		for i := range 200 { // 200 per 2 s tick = 100/s
			mustSchedule(t, s, pkt(fmt.Sprintf("203.0.113.1:%d", i), 80)).Close()
		}
		c.Advance(2 * time.Second)
		tb.Tick()
	}
	if r := s.Rates().CPS; r < 99 || r > 101 {
		t.Fatalf("service CPS %d, want 100", r)
	}
	// A plane with an estimator of its own (the kernel's) gives its rates,
	// which the listing then shows, whatever the counters say.
	kernel := table.Rates{CPS: 7, InPPS: 1, OutPPS: 2, InBPS: 40, OutBPS: 26}
	s.SetRates(kernel)
	s.Dests()[0].SetRates(kernel)
	c.Advance(2 * time.Second)
	tb.Tick()
	if s.Rates() != kernel || s.Dests()[0].Rates() != kernel {
		t.Fatalf("rates %+v and %+v, want the plane's %+v", s.Rates(), s.Dests()[0].Rates(), kernel)
	}
}

// Scheduling runs from many goroutines while reloads change weights and
// schedulers: no connection is refused and the counts stay consistent (run
// with -race).
func TestConcurrentScheduleAndApply(t *testing.T) {
	c := clock.NewFake(t0)
	svc := markService(30*time.Second, 24)
	tb := newTable(t, c, svc)
	s := tb.Service(mark)
	var wg sync.WaitGroup
	var failed, done atomic.Int64
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1_000_000 { // bounded; normally ends with the reloads
				select {
				case <-stop:
					return
				default:
				}
				done.Add(1)
				cn, err := s.Schedule(pkt(fmt.Sprintf("203.0.%d.%d:%d", g, i%250, i), 80))
				if err != nil {
					failed.Add(1)
					continue
				}
				cn.SetState(table.ConnEstablished)
				cn.Close()
			}
		}()
	}
	for i := range 200 {
		svc.RealServers[i%3].Weight = 1 + i%5
		// A new scheduler must never be seen before it has the servers.
		svc.Scheduler = []model.Scheduler{model.SchedRR, model.SchedWRR}[i%2]
		if _, err := tb.Apply(&model.Config{Services: []model.Service{svc}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d schedules failed", failed.Load(), done.Load())
	}
	pastTimeWait(c, tb)
	for _, d := range s.Dests() {
		if d.ActiveConns() != 0 || d.InactiveConns() != 0 {
			t.Errorf("%v: %d/%d conns left", d.Key(), d.ActiveConns(), d.InactiveConns())
		}
	}
}

// A bad configuration changes nothing.
func TestApplyRejectsWhole(t *testing.T) {
	c := clock.NewFake(t0)
	good := markService(0, 0)
	tb := newTable(t, c, good)
	bad := good
	bad.Scheduler = "nope"
	other := model.Service{Name: "x", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 22,
		Scheduler: model.SchedRR}
	if _, err := tb.Apply(&model.Config{Services: []model.Service{other, bad}}); err == nil {
		t.Fatal("unknown scheduler accepted")
	}
	if tb.Service(model.TCPKey(netip.AddrPortFrom(vip, 22))) != nil || len(tb.Services()) != 1 {
		t.Fatal("a refused configuration changed the table")
	}
	dup := good
	dup.RealServers = append(dup.RealServers, dup.RealServers[0])
	if _, err := tb.Apply(&model.Config{Services: []model.Service{dup}}); err == nil {
		t.Fatal("duplicate real server accepted")
	}
}

// The sorry server takes connections while no real server is up and leaves
// when one returns; quiesced servers (weight 0) do not count as up.
func TestSorryServer(t *testing.T) {
	c := clock.NewFake(t0)
	svc := model.Service{Name: "s", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 80,
		Scheduler: model.SchedRR, Sorry: netip.AddrPortFrom(rs3, 8080),
		RealServers: realServers(80, rs1, rs2)}
	tb := newTable(t, c, svc)
	s := tb.Service(model.TCPKey(netip.AddrPortFrom(vip, 80)))
	if s.SorryActive() {
		t.Fatal("sorry server active while real servers are up")
	}
	s.SetState(model.DestKey{Addr: rs1, Port: 80}, table.StateDown, "test")
	s.SetState(model.DestKey{Addr: rs2, Port: 80}, table.StateQuiesced, "test")
	cn := mustSchedule(t, s, pkt("203.0.113.1:1", 80))
	if cn.Target != netip.AddrPortFrom(rs3, 8080) || !s.SorryActive() {
		t.Fatalf("with no server up the connection went to %v", cn.Target)
	}
	if n := listed(tb); n != 3 {
		t.Fatalf("snapshot lists %d servers, want 2 and the sorry server", n)
	}
	s.SetState(model.DestKey{Addr: rs1, Port: 80}, table.StateUp, "test")
	if s.SorryActive() {
		t.Fatal("sorry server still active after a real server returned")
	}
	if cn2 := mustSchedule(t, s, pkt("203.0.113.1:2", 80)); cn2.Target.Addr() != rs1 {
		t.Fatalf("after recovery the connection went to %v", cn2.Target)
	}
	cn.Close()
	pastTimeWait(c, tb)
	if n := listed(tb); n != 2 {
		t.Fatalf("snapshot lists %d servers after the sorry server drained", n)
	}
}

// Watchers hear of state changes, coalesced.
func TestWatch(t *testing.T) {
	c := clock.NewFake(t0)
	tb := newTable(t, c, markService(0, 0))
	ch, stop := tb.Watch()
	defer stop()
	select {
	case <-ch:
		t.Fatal("signal before any change")
	default:
	}
	s := tb.Service(mark)
	s.SetState(model.DestKey{Addr: rs1}, table.StateDown, "x")
	s.SetWeight(model.DestKey{Addr: rs2}, 5)
	select {
	case <-ch:
	default:
		t.Fatal("no signal after state and weight changes")
	}
	select {
	case <-ch:
		t.Fatal("signals not coalesced")
	default:
	}
}

// A real server that leaves its service is no longer available to its
// connections; one removed from the file lingers, available at weight 0,
// unless expire_nodest_conn says its connections are expired.
func TestAvailability(t *testing.T) {
	for _, expire := range []bool{false, true} {
		c := clock.NewFake(time.Unix(1000, 0))
		svc := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: netip.MustParseAddr("192.0.2.1"),
			Port: 80, Scheduler: model.SchedRR}
		for i := range 3 {
			svc.RealServers = append(svc.RealServers, model.RealServer{
				Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Port: 80, Weight: 1, Active: true})
		}
		tb := newTable(t, c, svc)
		cfg := &model.Config{Global: model.Global{ExpireNodestConn: expire}, Services: []model.Service{svc}}
		if _, err := tb.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		s := tb.Service(svc.Key())
		ds := s.Dests()
		for _, d := range ds {
			if !d.Available() {
				t.Fatalf("%s not available while up", d.Key())
			}
		}
		s.SetState(ds[0].Key(), table.StateDown, "test")
		if ds[0].Available() {
			t.Errorf("expire=%v: a real server marked down is still available", expire)
		}
		s.SetState(ds[0].Key(), table.StateUp, "test")
		if !ds[0].Available() {
			t.Errorf("expire=%v: a real server back up is not available", expire)
		}
		s.SetState(ds[1].Key(), table.StateDraining, "test")
		if !ds[1].Available() {
			t.Errorf("expire=%v: a drained real server is not available (it is at weight 0 in the kernel)", expire)
		}
		// A connection to ds[2], then ds[2] leaves the file.
		var conn *table.Conn
		for i := range 3 {
			cn, err := s.Schedule(&table.Packet{Proto: model.ProtoTCP,
				Src: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(1000+i)), Dst: netip.AddrPortFrom(svc.VIP, 80)})
			if err != nil {
				t.Fatal(err)
			}
			if cn.Dest() == ds[2] {
				conn = cn
			}
		}
		if conn == nil {
			t.Fatal("no connection reached the third server")
		}
		cfg.Services[0].RealServers = svc.RealServers[:2]
		if _, err := tb.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		if got := ds[2].Available(); got == expire {
			t.Errorf("expire_nodest_conn=%v: a removed real server with a connection is available=%v", expire, got)
		}
		if len(s.Gone()) != 1 {
			t.Errorf("expire=%v: the removed server with a connection is not listed among the gone", expire)
		}
	}
}

// pastTimeWait moves the clock past TIME_WAIT and expires what has ended.
func pastTimeWait(c *clock.Fake, tb *table.Table) {
	c.Advance(table.TimeWaitTimeout)
	tb.Expire()
}

// listed is the number of real servers the snapshot lists in the first
// service.
func listed(tb *table.Table) int { return len(tb.Snapshot().Services[0].Dests) }
