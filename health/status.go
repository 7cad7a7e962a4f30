package health

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// ServerRef names one real server of one service.
type ServerRef struct {
	Service     model.ServiceKey `json:"service"`
	ServiceName string           `json:"service_name"`
	RealServer  model.DestKey    `json:"real_server"`
}

// MonitorStatus describes one monitor: a target and check shared by every
// service in Servers.
type MonitorStatus struct {
	// Target is the address and port checked.
	Target model.DestKey `json:"target"`
	// Check describes the check, e.g. `tcp send "GET / HTTP/1.0\r\n\r\n"
	// expect "HTTP"` or "http GET /health status 200-399".
	Check string `json:"check"`
	// Kind is the check's kind (tcp, udp, http, https, program, dns).
	Kind string `json:"kind"`
	// ID tells apart the monitors of one target whose checks differ in
	// anything (a timeout, a send string) without showing what they are:
	// a digest of the definition, stable across restarts. Metrics label
	// by it.
	ID string `json:"id"`
	// Interval is the check period and timeout; Rise and Fall the
	// consecutive results needed to come back and to go out.
	Interval model.Seconds `json:"interval_seconds"`
	Rise     int           `json:"rise"`
	Fall     int           `json:"fall"`
	// State is "unknown" (no result yet), "up" or "down"; Reason and Since
	// say why and since when.
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// LastCheck, LastOK and Latency describe the latest check; LastError is
	// the latest failure's reason, kept after later successes.
	LastCheck time.Time     `json:"last_check"`
	LastOK    bool          `json:"last_ok"`
	LastError string        `json:"last_error,omitempty"`
	Latency   model.Seconds `json:"latency_seconds"`
	// Latencies are the durations of every check that ran, for the
	// metrics' histogram.
	Latencies Latencies `json:"-"`
	// ConsecutiveOK and ConsecutiveFail count the current run of results.
	ConsecutiveOK   int `json:"consecutive_ok"`
	ConsecutiveFail int `json:"consecutive_fail"`
	// Checks and Failures count every result since the monitor started;
	// LocalErrors the checks that could not run for a reason of this
	// host's (no descriptor left, no source address), which moved nothing.
	Checks      uint64 `json:"checks"`
	Failures    uint64 `json:"failures"`
	LocalErrors uint64 `json:"local_errors,omitempty"`
	// Servers are the (service, real server) pairs the result drives.
	Servers []ServerRef `json:"servers"`
}

// AgentStatus describes one load agent poller.
type AgentStatus struct {
	// Target is the agent's address and port.
	Target model.DestKey `json:"target"`
	// Interval is the polling period.
	Interval model.Seconds `json:"interval_seconds"`
	// State is the agent's last availability word (ready, drain, maint,
	// down); Percent its last weight percentage, -1 if none yet.
	State   string `json:"state"`
	Percent int    `json:"percent"`
	// LastPoll, LastOK, LastReply and LastError describe the latest poll.
	LastPoll  time.Time `json:"last_poll"`
	LastOK    bool      `json:"last_ok"`
	LastReply string    `json:"last_reply,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	// Servers are the (service, real server) pairs it weighs.
	Servers []ServerRef `json:"servers"`
}

func refs(binds []*binding) []ServerRef {
	out := make([]ServerRef, 0, len(binds))
	for _, b := range binds {
		out = append(out, ServerRef{Service: b.key.svc, ServiceName: b.spec.svcName, RealServer: b.key.dest})
	}
	slices.SortFunc(out, func(a, b ServerRef) int {
		return cmp.Or(table.CompareKeys(a.Service, b.Service), a.RealServer.Addr.Compare(b.RealServer.Addr),
			cmp.Compare(a.RealServer.Port, b.RealServer.Port))
	})
	return out
}

// Status lists the monitors, ordered by target and check.
func (m *Manager) Status() []MonitorStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]MonitorStatus, 0, len(m.monitors))
	for _, mon := range m.monitors {
		sp := mon.spec()
		out = append(out, MonitorStatus{
			Target:          model.DestKey{Addr: mon.key.addr, Port: mon.key.port},
			Check:           mon.key.def.desc,
			Kind:            sp.kind.String(),
			ID:              mon.key.def.id,
			Interval:        model.Seconds(sp.interval),
			Rise:            sp.rise,
			Fall:            sp.fall,
			State:           mon.state.String(),
			Reason:          mon.reason,
			Since:           mon.since,
			LastCheck:       mon.lastCheck,
			LastOK:          mon.lastOK,
			LastError:       mon.lastErr,
			Latency:         model.Seconds(mon.latency),
			Latencies:       mon.latencies.clone(),
			ConsecutiveOK:   mon.okRun,
			ConsecutiveFail: mon.failRun,
			Checks:          mon.checks,
			Failures:        mon.failures,
			LocalErrors:     mon.localErrors,
			Servers:         refs(mon.binds),
		})
	}
	slices.SortFunc(out, func(a, b MonitorStatus) int {
		return cmp.Or(a.Target.Addr.Compare(b.Target.Addr), cmp.Compare(a.Target.Port, b.Target.Port),
			cmp.Compare(a.Check, b.Check), cmp.Compare(a.Interval, b.Interval))
	})
	return out
}

// Agents lists the load agent pollers, ordered by target.
func (m *Manager) Agents() []AgentStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]AgentStatus, 0, len(m.agents))
	for _, a := range m.agents {
		out = append(out, AgentStatus{
			Target:    model.DestKey{Addr: a.spec.addr, Port: a.spec.port},
			Interval:  model.Seconds(a.spec.interval),
			State:     a.state.String(),
			Percent:   a.pct,
			LastPoll:  a.lastPoll,
			LastOK:    a.lastOK,
			LastReply: a.lastReply,
			LastError: a.lastErr,
			Servers:   refs(slices.Collect(maps.Values(a.binds))),
		})
	}
	slices.SortFunc(out, func(a, b AgentStatus) int {
		return cmp.Or(a.Target.Addr.Compare(b.Target.Addr), cmp.Compare(a.Target.Port, b.Target.Port),
			cmp.Compare(a.Interval, b.Interval))
	})
	return out
}
