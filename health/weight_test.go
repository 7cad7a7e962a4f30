package health

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// The agent's percentage scales the configured weight; drain, down and
// ready move the server.
func TestAgentWeights(t *testing.T) {
	steps := []struct {
		answer string
		state  table.State
		weight int    // checked in StateUp
		reason string // checked if set
	}{
		{"up 50%\n", table.StateUp, 5, ""},
		{"drain\n", table.StateDraining, 0, "agent: drain 50%"},
		{"ready 100%\n", table.StateUp, 10, ""},
		{"down #disk full\n", table.StateDown, 0, "agent: down 100% (disk full)"},
		{"up 25%\n", table.StateUp, 3, ""},
	}
	s := newServer(t, "127.0.0.16", nil)
	var answer atomic.Value
	answer.Store(steps[0].answer)
	ag := newServer(t, "127.0.0.16", func(c net.Conn) { io.WriteString(c, answer.Load().(string)) })
	r := newRig(t, Options{})
	check := model.Check{Interval: tick, Extra: map[string]string{
		model.KeyAgentPort: fmt.Sprint(ag.addr.Port()), model.KeyAgentInterval: "1", model.KeySlowstart: "0", model.KeyFall: "2"}}
	svc := service("web", 8080, check, realServer(s.addr, 10))
	r.apply(&model.Config{Services: []model.Service{svc}})
	// Poll the agent fast: agent_interval counts seconds.
	for _, a := range r.m.agents {
		a.spec.interval = tick
	}
	r.run()
	sk, k := svc.Key(), key(s.addr)
	d := func() *table.Dest { return r.dest(sk, k) }
	for _, st := range steps {
		answer.Store(st.answer)
		testutil.WaitFor(t, 2*time.Second, fmt.Sprintf("agent %q to make the server %s, weight %d", st.answer, st.state, st.weight), func() bool {
			return d().State() == st.state && (st.state != table.StateUp || d().Weight() == st.weight)
		})
		if reason := d().Reason(); st.reason != "" && reason != st.reason {
			t.Errorf("after agent %q: reason %q, want %q", st.answer, reason, st.reason)
		}
	}
	// An agent that goes away changes nothing.
	ag.down()
	testutil.WaitFor(t, 2*time.Second, "agent error", func() bool {
		as := r.m.Agents()
		return len(as) == 1 && !as[0].LastOK && as[0].LastError != ""
	})
	holds(t, 3*tick, "weight kept without agent", func() bool { return d().State() == table.StateUp && d().Weight() == 3 })
	// The health check still decides availability.
	s.down()
	r.waitState(sk, k, table.StateDown, 2*time.Second)
}

// A server returning from failure ramps up from weight/32, doubling to its
// configured weight over slowstart.
func TestSlowStart(t *testing.T) {
	s := newServer(t, "127.0.0.17", nil)
	r := newRig(t, Options{})
	// fall 3: a check starved by a loaded machine must not restart the ramp.
	check := model.Check{Interval: tick / 2, Extra: map[string]string{model.KeySlowstart: "1", model.KeyFall: "3"}}
	svc := service("web", 8080, check, realServer(s.addr, 64))
	r.apply(&model.Config{Services: []model.Service{svc}})
	r.run()
	sk, k := svc.Key(), key(s.addr)
	testutil.WaitFor(t, 2*time.Second, "first check", func() bool { return r.monitor(k).Checks > 0 })
	if w := r.dest(sk, k).Weight(); w != 64 {
		t.Fatalf("weight at start %d: present servers are not slow-started", w)
	}
	s.down()
	r.waitState(sk, k, table.StateDown, 2*time.Second)
	s.up()
	r.waitState(sk, k, table.StateUp, 2*time.Second)
	start := time.Now()
	seen := []int{}
	testutil.WaitFor(t, 3*time.Second, "full weight", func() bool {
		w := r.dest(sk, k).Weight()
		if len(seen) == 0 || seen[len(seen)-1] != w {
			t.Logf("%s %d %s", time.Since(start), w, r.state(sk, k))
			seen = append(seen, w)
		}
		return w == 64
	})
	el := time.Since(start)
	if seen[0] != 2 || len(seen) < 4 {
		t.Fatalf("ramp %v, want from 2 (64/32) doubling", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] != 2*seen[i-1] {
			t.Fatalf("ramp %v does not double", seen)
		}
	}
	if el < 600*time.Millisecond {
		t.Errorf("ramp took %s, want about slowstart = 1s", el)
	}
}
