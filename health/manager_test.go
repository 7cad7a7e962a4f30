package health

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// A server leaves on failure, traffic follows the others, and it returns
// only after reentry/timeout consecutive good checks.
func TestDownAndReentry(t *testing.T) {
	s1 := newServer(t, "127.0.0.2", nil)
	s2 := newServer(t, "127.0.0.3", nil)
	r := newRig(t, Options{})
	check := model.Check{Interval: tick, Reentry: 3 * tick, Extra: map[string]string{model.KeySlowstart: "0"}}
	svc := service("web", 8080, check, realServer(s1.addr, 1), realServer(s2.addr, 1))
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	sk, k1, k2 := svc.Key(), key(s1.addr), key(s2.addr)

	testutil.WaitFor(t, 2*time.Second, "first checks", func() bool { return r.monitor(k1).Checks > 0 && r.monitor(k2).Checks > 0 })
	if got := r.schedule(sk, 10); got[s1.addr] != 5 || got[s2.addr] != 5 {
		t.Fatalf("both up: scheduled %v", got)
	}

	s1.down()
	r.waitState(sk, k1, table.StateDown, 2*time.Second)
	if reason := r.dest(sk, k1).Reason(); reason != "connect refused" {
		t.Errorf("reason %q, want %q", reason, "connect refused")
	}
	if got := r.schedule(sk, 10); got[s2.addr] != 10 {
		t.Fatalf("s1 down: scheduled %v", got)
	}
	if !strings.Contains(r.logs.String(), s1.addr.String()+" down: connect refused") {
		t.Errorf("no down line in log:\n%s", r.logs)
	}

	s1.up()
	r.waitState(sk, k1, table.StateUp, 3*time.Second)
	st := r.monitor(k1)
	if st.Rise != 3 || st.ConsecutiveOK < 3 {
		t.Errorf("returned after %d good checks, want rise 3: %+v", st.ConsecutiveOK, st)
	}
	if got := r.schedule(sk, 10); got[s1.addr] != 5 || got[s2.addr] != 5 {
		t.Fatalf("s1 back: scheduled %v", got)
	}
	if reason := r.dest(sk, k1).Reason(); reason != "check passed 3 times in a row" {
		t.Errorf("up reason %q", reason)
	}
}

// A server dead at start-up is out after the first check, which runs at
// once, long before the interval.
func TestStartupFirstCheckImmediate(t *testing.T) {
	dead := refusedAddr(t, "127.0.0.4")
	live := newServer(t, "127.0.0.4", nil)
	r := newRig(t, Options{})
	svc := service("web", 8080, model.Check{Interval: 5 * time.Second},
		realServer(dead, 4), realServer(live.addr, 4))
	r.apply(&model.Config{Services: []model.Service{svc}})
	if r.state(svc.Key(), key(dead)) != table.StateUp {
		t.Fatal("table should start real servers up")
	}
	start := time.Now()
	r.run()
	r.waitState(svc.Key(), key(dead), table.StateDown, time.Second)
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %s", el)
	}
	if st := r.monitor(key(dead)); st.Checks != 1 {
		t.Errorf("checks = %d, want the first one only", st.Checks)
	}
	// The live server present at start is not slow-started.
	holds(t, 100*time.Millisecond, "live server at full weight", func() bool {
		return r.dest(svc.Key(), key(live.addr)).Weight() == 4
	})
}

// Quiesce: on failure the weight drops to 0 but the server stays in the
// table, and a connection opened before stays counted against it.
func TestQuiesceKeepsFlows(t *testing.T) {
	s1 := newServer(t, "127.0.0.5", nil)
	s2 := newServer(t, "127.0.0.6", nil)
	r := newRig(t, Options{})
	check := model.Check{Interval: tick, Quiesce: true}
	svc := service("web", 8080, check, realServer(s1.addr, 1), realServer(s2.addr, 1))
	svc.Scheduler = model.SchedRR
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	sk, k1 := svc.Key(), key(s1.addr)
	testutil.WaitFor(t, 2*time.Second, "first check", func() bool { return r.monitor(k1).Checks > 0 })

	// Open connections until one lands on s1 and keep it.
	s := r.tbl.Service(sk)
	var kept *table.Conn
	for i := 0; kept == nil && i < 10; i++ {
		c, err := s.Schedule(&table.Packet{Proto: model.ProtoTCP,
			Src: netip.MustParseAddrPort(fmt.Sprintf("203.0.113.9:%d", 20000+i)), Dst: netip.AddrPortFrom(vip, 8080)})
		if err != nil {
			t.Fatal(err)
		}
		if c.Target == s1.addr {
			kept = c
		} else {
			c.Close()
		}
	}
	if kept == nil {
		t.Fatal("no connection landed on s1")
	}
	kept.SetState(table.ConnEstablished)
	defer kept.Close()

	s1.down()
	r.waitState(sk, k1, table.StateQuiesced, 2*time.Second)
	d := r.dest(sk, k1)
	if d.Weight() != 0 || d.ActiveConns() != 1 {
		t.Fatalf("quiesced: weight %d active %d, want 0 and 1", d.Weight(), d.ActiveConns())
	}
	if got := r.schedule(sk, 6); got[s1.addr] != 0 || got[s2.addr] != 6 {
		t.Fatalf("quiesced server still scheduled: %v", got)
	}
	if kept.Dest() != d || d.Removed() {
		t.Fatal("the established flow lost its server")
	}
}

// The sorry server takes over while every real server is down and leaves
// when one returns: the table does it, driven end to end by the checks.
func TestSorryServer(t *testing.T) {
	s1 := newServer(t, "127.0.0.7", nil)
	s2 := newServer(t, "127.0.0.8", nil)
	sorry := netip.MustParseAddrPort("127.0.0.9:8080")
	r := newRig(t, Options{})
	svc := service("web", 8080, model.Check{Interval: tick, Extra: map[string]string{model.KeySlowstart: "0"}},
		realServer(s1.addr, 1), realServer(s2.addr, 1))
	svc.Sorry = sorry
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	sk := svc.Key()
	testutil.WaitFor(t, 2*time.Second, "first checks", func() bool { return r.monitor(key(s2.addr)).Checks > 0 })
	if r.tbl.Service(sk).SorryActive() {
		t.Fatal("sorry server active while servers are up")
	}

	s1.down()
	s2.down()
	r.waitState(sk, key(s1.addr), table.StateDown, 2*time.Second)
	r.waitState(sk, key(s2.addr), table.StateDown, 2*time.Second)
	testutil.WaitFor(t, time.Second, "sorry server", r.tbl.Service(sk).SorryActive)
	if got := r.schedule(sk, 4); got[sorry] != 4 {
		t.Fatalf("all down: scheduled %v, want the sorry server", got)
	}

	s2.up()
	r.waitState(sk, key(s2.addr), table.StateUp, 2*time.Second)
	testutil.WaitFor(t, time.Second, "sorry server to leave", func() bool { return !r.tbl.Service(sk).SorryActive() })
	if got := r.schedule(sk, 4); got[s2.addr] != 4 {
		t.Fatalf("s2 back: scheduled %v", got)
	}
}

// A server that flaps never returns while it flaps (one failure takes it
// out, it needs rise good checks in a row), and returns once stable.
func TestFlapping(t *testing.T) {
	var n atomic.Int64
	var stable atomic.Bool
	s := newServer(t, "127.0.0.10", func(c net.Conn) {
		if stable.Load() || n.Add(1)%2 == 0 {
			io.WriteString(c, "OK\n")
		} else {
			io.WriteString(c, "NO\n")
		}
	})
	r := newRig(t, Options{})
	check := model.Check{Interval: tick / 2, Reentry: 3 * tick / 2, Expect: "OK", Extra: map[string]string{model.KeySlowstart: "0"}}
	svc := service("flap", 7000, check, realServer(s.addr, 1))
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	sk, k := svc.Key(), key(s.addr)
	r.waitState(sk, k, table.StateDown, 2*time.Second)
	holds(t, 10*tick/2, "flapping server stays down", func() bool { return r.state(sk, k) == table.StateDown })
	if st := r.monitor(k); st.Checks < 6 {
		t.Fatalf("only %d checks while flapping", st.Checks)
	}
	stable.Store(true)
	r.waitState(sk, k, table.StateUp, 2*time.Second)
}

// A server that answers after the timeout fails ("timeout" is the check
// period and the per-check timeout), one that answers wrongly fails with
// what it said; both return when they behave.
func TestSlowAndWrongAnswers(t *testing.T) {
	var mode atomic.Value
	mode.Store("ok")
	s := newServer(t, "127.0.0.11", func(c net.Conn) {
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(buf)
		switch mode.Load() {
		case "slow":
			time.Sleep(3 * tick)
			io.WriteString(c, "+PONG\r\n")
		case "wrong":
			io.WriteString(c, "-ERR loading\r\n")
		default:
			io.WriteString(c, "+PONG\r\n")
		}
	})
	r := newRig(t, Options{})
	check := model.Check{Interval: tick, Send: `PING\r\n`, Expect: `+PONG\r\n`, Extra: map[string]string{model.KeySlowstart: "0"}}
	svc := service("redis", 6379, check, realServer(s.addr, 1))
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	sk, k := svc.Key(), key(s.addr)
	testutil.WaitFor(t, 2*time.Second, "first check", func() bool { return r.monitor(k).Checks > 0 })
	if st := r.state(sk, k); st != table.StateUp {
		t.Fatalf("state %s: %+v", st, r.monitor(k))
	}

	mode.Store("slow")
	r.waitState(sk, k, table.StateDown, 2*time.Second)
	if reason := r.dest(sk, k).Reason(); reason != "no reply within 100ms" {
		t.Errorf("slow reason %q", reason)
	}
	mode.Store("ok")
	r.waitState(sk, k, table.StateUp, 2*time.Second)
	mode.Store("wrong")
	r.waitState(sk, k, table.StateDown, 2*time.Second)
	if reason := r.dest(sk, k).Reason(); !strings.Contains(reason, `"-ERR lo"`) || !strings.Contains(reason, "does not start with") {
		t.Errorf("wrong reason %q", reason)
	}
}

// Monitoring on IPv6 loopback.
func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	ln.Close()
	s := newServer(t, "::1", reply("HTTP/1.0 200 OK\r\n\r\n"))
	r := newRig(t, Options{})
	svc := service("web6", 80, model.Check{Interval: tick}, realServer(s.addr, 1))
	svc.VIP = netip.MustParseAddr("2001:db8::10")
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	testutil.WaitFor(t, 2*time.Second, "first check", func() bool { return r.monitor(key(s.addr)).Checks > 0 })
	st := r.monitor(key(s.addr))
	if st.State != "up" || st.Check != `tcp send "GET / HTTP/1.0\r\n\r\n" expect "HTTP"` {
		t.Fatalf("%+v", st)
	}
	s.down()
	r.waitState(svc.Key(), key(s.addr), table.StateDown, 2*time.Second)
}

// check_type = none leaves the server alone; Run stops cleanly and checks
// in flight are cancelled.
func TestNoneAndShutdown(t *testing.T) {
	dead := refusedAddr(t, "127.0.0.18")
	slow := newServer(t, "127.0.0.18", func(c net.Conn) { time.Sleep(2 * time.Second) })
	r := newRig(t, Options{})
	a := service("a", 8081, model.Check{Interval: tick, Extra: map[string]string{model.KeyCheckType: "none"}}, realServer(dead, 1))
	b := service("b", 8082, model.Check{Interval: 5 * time.Second, Expect: "x"}, realServer(slow.addr, 1))
	r.apply(&model.Config{Services: []model.Service{a, b}})
	r.run()
	if n := len(r.m.Status()); n != 1 {
		t.Fatalf("%d monitors, want 1 (none has no monitor)", n)
	}
	holds(t, 3*tick, "unmonitored server stays up", func() bool { return r.state(a.Key(), key(dead)) == table.StateUp })
	start := time.Now()
	r.stop()
	if el := time.Since(start); el > time.Second {
		t.Errorf("Run took %s to stop with a check in flight", el)
	}
	if got := r.state(b.Key(), key(slow.addr)); got != table.StateUp {
		t.Errorf("a cancelled check changed state: %s", got)
	}
}

// Checks are spread: the second check lands at a random phase in
// [interval/2, 3·interval/2), later ones every interval ±5%, all rounded up
// to a grid of interval/100 (at most 10 ms) so timers fire in batches.
func TestNextDueSpread(t *testing.T) {
	var u float64
	m := New(table.New(table.Options{}), Options{Rand: func() float64 { return u }})
	iv := time.Second
	prev := m.epoch.Add(123456789 * time.Nanosecond)
	for _, c := range []struct {
		u      float64
		first  bool
		lo, hi time.Duration
	}{
		{0, true, 500 * time.Millisecond, 510 * time.Millisecond},
		{0.999, true, 1499 * time.Millisecond, 1510 * time.Millisecond},
		{0, false, 950 * time.Millisecond, 960 * time.Millisecond},
		{0.5, false, 1000 * time.Millisecond, 1010 * time.Millisecond},
		{0.999, false, 1049 * time.Millisecond, 1060 * time.Millisecond},
	} {
		u = c.u
		next := m.nextDue(prev, iv, c.first)
		d := next.Sub(prev)
		if d < c.lo || d >= c.hi {
			t.Errorf("u=%v first=%v: next after %s, want [%s, %s)", c.u, c.first, d, c.lo, c.hi)
		}
		if next.Sub(m.epoch)%(10*time.Millisecond) != 0 {
			t.Errorf("next %s off the 10ms grid", next.Sub(m.epoch))
		}
	}
	// Overdue: now.
	if d := time.Until(m.nextDue(time.Now().Add(-time.Hour), iv, false)); d > 0 {
		t.Errorf("overdue check scheduled %s ahead", d)
	}
}
