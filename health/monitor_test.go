package health

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// Two services naming the same real server with the same check share one
// monitor; a different check gets its own.
func TestSharedMonitor(t *testing.T) {
	s := newServer(t, "127.0.0.12", reply("x"))
	r := newRig(t, Options{})
	check := model.Check{Interval: tick, Extra: map[string]string{model.KeyFall: "2"}}
	a := service("a", 8081, check, realServer(s.addr, 1))
	b := service("b", 8082, check, realServer(s.addr, 2))
	b.Check.Quiesce = true // an action, not part of the check
	c := service("c", 8083, model.Check{Interval: tick, Expect: "*", Extra: check.Extra}, realServer(s.addr, 1))
	r.apply(&model.Config{Services: []model.Service{a, b, c}})
	r.run()
	st := r.m.Status()
	if len(st) != 2 {
		t.Fatalf("%d monitors, want 2: %+v", len(st), st)
	}
	var shared MonitorStatus
	for _, m := range st {
		if len(m.Servers) == 2 {
			shared = m
		}
	}
	if shared.Check != "tcp connect" || shared.Servers[0].Service != a.Key() || shared.Servers[1].Service != b.Key() {
		t.Fatalf("shared monitor: %+v", shared)
	}
	testutil.WaitFor(t, 2*time.Second, "checks", func() bool { return r.monitor(key(s.addr)).Checks > 2 })
	s.down()
	r.waitState(a.Key(), key(s.addr), table.StateDown, 2*time.Second)
	r.waitState(b.Key(), key(s.addr), table.StateQuiesced, 2*time.Second)
	r.waitState(c.Key(), key(s.addr), table.StateDown, 2*time.Second)
	if n := strings.Count(r.logs.String(), "msg=\""+s.addr.String()+" down: connect refused (2 checks in a row)\""); n != 2 {
		t.Errorf("%d down lines, want one per monitor:\n%s", n, r.logs)
	}
}

// A reload keeps running monitors with their state and counters, starts
// monitors for new pairs, stops removed ones, and re-applies health to new
// services and to weights the reload reset.
func TestApplyKeepsMonitors(t *testing.T) {
	s := newServer(t, "127.0.0.13", nil)
	dead := refusedAddr(t, "127.0.0.13")
	r := newRig(t, Options{})
	check := model.Check{Interval: tick}
	a := service("a", 8081, check, realServer(s.addr, 1), realServer(dead, 1))
	r.apply(&model.Config{Services: []model.Service{a}})
	r.run()
	r.waitState(a.Key(), key(dead), table.StateDown, 2*time.Second)
	testutil.WaitFor(t, 2*time.Second, "checks", func() bool { return r.monitor(key(s.addr)).Checks >= 3 })
	before := r.monitor(key(s.addr))
	monOf := func(svc *model.Service) *monitor {
		r.m.mu.Lock()
		defer r.m.mu.Unlock()
		def := r.m.defs[*buildSpec(svc, svc.RealServers[0]).probe]
		if def == nil {
			return nil
		}
		return r.m.monitors[monitorKey{addr: s.addr.Addr(), port: s.addr.Port(), def: def}]
	}
	monBefore := monOf(&a)

	// Reload: same service with a new weight, and a new service naming the
	// dead server.
	a2 := a
	a2.RealServers = []model.RealServer{realServer(s.addr, 5), realServer(dead, 3)}
	b := service("b", 8082, check, realServer(dead, 1))
	r.apply(&model.Config{Services: []model.Service{a2, b}})
	if got := r.state(b.Key(), key(dead)); got != table.StateDown {
		t.Fatalf("new service: dead server %s right after Apply, want down", got)
	}
	if got := r.dest(a2.Key(), key(s.addr)).Weight(); got != 5 {
		t.Fatalf("weight %d after reload, want 5", got)
	}
	after := r.monitor(key(s.addr))
	if after.Checks < before.Checks || after.Since != before.Since {
		t.Fatalf("monitor restarted: before %+v after %+v", before, after)
	}
	if monAfter := monOf(&a2); monAfter != monBefore || monAfter == nil {
		t.Fatal("monitor replaced by a reload that did not change it")
	}

	// Reload removing the dead server everywhere: its monitor stops.
	a3 := a2
	a3.RealServers = a2.RealServers[:1]
	r.apply(&model.Config{Services: []model.Service{a3}})
	if n := len(r.m.Status()); n != 1 {
		t.Fatalf("%d monitors after removal, want 1", n)
	}
	// Changing the check replaces the monitor; the server's state holds
	// until the new check decides.
	a4 := a3
	a4.Check.Expect = "*"
	s.setHandler(reply("x"))
	r.apply(&model.Config{Services: []model.Service{a4}})
	st := r.m.Status()
	if len(st) != 1 || !strings.Contains(st[0].Check, `expect "*"`) {
		t.Fatalf("monitors after check change: %+v", st)
	}
	testutil.WaitFor(t, 2*time.Second, "new check", func() bool { return r.monitor(key(s.addr)).Checks > 0 })
	if got := r.state(a4.Key(), key(s.addr)); got != table.StateUp {
		t.Fatalf("state %s", got)
	}
}

// Operator overrides win over checks, hold across reloads, and apply to
// new services naming the target.
func TestOverrides(t *testing.T) {
	s1 := newServer(t, "127.0.0.14", nil)
	s2 := newServer(t, "127.0.0.15", nil)
	r := newRig(t, Options{})
	check := model.Check{Interval: tick, Extra: map[string]string{model.KeySlowstart: "0"}}
	a := service("a", 8081, check, realServer(s1.addr, 1), realServer(s2.addr, 1))
	cfg := &model.Config{Services: []model.Service{a}}
	r.apply(cfg)
	r.run()
	sk, k1 := a.Key(), key(s1.addr)

	if n, err := r.m.Override(model.DestKey{Addr: s1.addr.Addr()}, nil, Disable); err != nil || n != 1 {
		t.Fatalf("disable: %d %v", n, err)
	}
	if got := r.state(sk, k1); got != table.StateDisabled {
		t.Fatalf("after disable: %s", got)
	}
	if reason := r.dest(sk, k1).Reason(); reason != "disabled by operator" {
		t.Errorf("reason %q", reason)
	}
	if got := r.schedule(sk, 4); got[s1.addr] != 0 {
		t.Fatalf("disabled server scheduled: %v", got)
	}
	// Checks keep passing and a reload happens: still disabled.
	testutil.WaitFor(t, 2*time.Second, "checks", func() bool { return r.monitor(k1).Checks >= 3 })
	b := service("b", 8082, check, realServer(s1.addr, 1))
	cfg2 := &model.Config{Services: []model.Service{a, b}}
	r.apply(cfg2)
	holds(t, 3*tick, "disabled across reload", func() bool {
		return r.state(sk, k1) == table.StateDisabled && r.state(b.Key(), k1) == table.StateDisabled
	})
	if ov := r.m.Overrides(); len(ov) != 1 || ov[0].Action != Disable || ov[0].Matched != 2 || ov[0].Service != nil {
		t.Fatalf("overrides: %+v", ov)
	}

	// A service-specific drain beats the all-services disable there.
	bk := b.Key()
	if _, err := r.m.Override(k1, &bk, Drain); err != nil {
		t.Fatal(err)
	}
	if got := r.state(bk, k1); got != table.StateDraining {
		t.Fatalf("drain: %s", got)
	}
	if got := r.state(sk, k1); got != table.StateDisabled {
		t.Fatalf("other service after drain: %s", got)
	}

	// Enable forces a dead server in.
	s2.down()
	r.waitState(sk, key(s2.addr), table.StateDown, 2*time.Second)
	if _, err := r.m.Override(key(s2.addr), nil, Enable); err != nil {
		t.Fatal(err)
	}
	if got := r.state(sk, key(s2.addr)); got != table.StateUp {
		t.Fatalf("enable: %s", got)
	}
	holds(t, 3*tick, "enabled despite failing checks", func() bool { return r.state(sk, key(s2.addr)) == table.StateUp })

	// Clear returns everything to the checks.
	if _, err := r.m.Override(model.DestKey{Addr: s1.addr.Addr()}, nil, Clear); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Override(model.DestKey{Addr: s2.addr.Addr()}, nil, Clear); err != nil {
		t.Fatal(err)
	}
	if ov := r.m.Overrides(); len(ov) != 0 {
		t.Fatalf("overrides left: %+v", ov)
	}
	if got, got2 := r.state(sk, k1), r.state(bk, k1); got != table.StateUp || got2 != table.StateUp {
		t.Fatalf("after clear: %s %s", got, got2)
	}
	if reason := r.dest(sk, k1).Reason(); reason != "override cleared" {
		t.Errorf("reason %q", reason)
	}
	r.waitState(sk, key(s2.addr), table.StateDown, 2*time.Second)

	// A typo is an error, not a silent no-op.
	if _, err := r.m.Override(model.DestKey{Addr: netip.MustParseAddr("127.0.0.99")}, nil, Disable); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("unknown target: %v", err)
	}
	// Clearing one port inside an any-port disable keeps that port on the
	// checks only.
	if _, err := r.m.Override(model.DestKey{Addr: s1.addr.Addr()}, nil, Disable); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Override(k1, &bk, Clear); err != nil {
		t.Fatal(err)
	}
	if got, got2 := r.state(sk, k1), r.state(bk, k1); got != table.StateDisabled || got2 != table.StateUp {
		t.Fatalf("partial clear: %s %s", got, got2)
	}
}
