package table

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/govs/govs/model"
	"github.com/govs/govs/persistence"
)

// Snapshot is a plain, JSON-ready copy of the table, for listings, the
// control socket, the web tool and metrics.
type Snapshot struct {
	Services []ServiceStatus `json:"services"`
	// Timeouts in seconds, as ipvsadm -L --timeout shows them.
	TCPTimeout    int `json:"tcp_timeout"`
	TCPFinTimeout int `json:"tcpfin_timeout"`
	UDPTimeout    int `json:"udp_timeout"`
}

// ServiceStatus is one virtual service in a Snapshot.
type ServiceStatus struct {
	Name       string `json:"name"`
	Key        string `json:"key"`
	Proto      string `json:"protocol"`
	VIP        string `json:"vip"`
	Port       uint16 `json:"port"`
	FWMark     uint32 `json:"fwmark,omitempty"`
	Family     int    `json:"family"`
	MarkPorts  string `json:"fwmark_ports,omitempty"`
	Scheduler  string `json:"scheduler"`
	SchedFlags string `json:"scheduler_flags,omitempty"`
	// Persistent is the persistence timeout in seconds (0: off); PrefixLen
	// its granularity.
	Persistent int          `json:"persistent,omitempty"`
	PrefixLen  int          `json:"prefix_len,omitempty"`
	OnePacket  bool         `json:"one_packet,omitempty"`
	Stats      Stats        `json:"stats"`
	Rates      Rates        `json:"rates"`
	Dests      []DestStatus `json:"real_servers"`
	// MaxConns is lvs.cf's max_conns (0: none); Refused counts the
	// connections it refused.
	MaxConns int    `json:"max_conns,omitempty"`
	Refused  uint64 `json:"refused,omitempty"`
}

// DestStatus is one real server in a Snapshot.
type DestStatus struct {
	Name          string `json:"name"`
	Addr          string `json:"address"`
	Port          uint16 `json:"port"`
	Forward       string `json:"forward"`
	Weight        int    `json:"weight"`
	ConfigWeight  int    `json:"config_weight"`
	ActiveConns   int    `json:"active_conns"`
	InactiveConns int    `json:"inactive_conns"`
	PersistConns  int    `json:"persist_conns"`
	State         string `json:"state"`
	Reason        string `json:"reason,omitempty"`
	Removed       bool   `json:"removed,omitempty"`
	Overloaded    bool   `json:"overloaded,omitempty"`
	// UpperThreshold and LowerThreshold are ipvsadm -x and -y (0: unset).
	UpperThreshold uint32 `json:"uthreshold,omitempty"`
	LowerThreshold uint32 `json:"lthreshold,omitempty"`
	Stats          Stats  `json:"stats"`
	Rates          Rates  `json:"rates"`
}

// ConnStatus is one connection entry or persistence template, as ipvsadm -c
// lists them.
type ConnStatus struct {
	Proto string `json:"protocol"`
	// Expires is the seconds left before the entry times out if idle.
	Expires     int    `json:"expires"`
	State       string `json:"state"`
	Source      string `json:"source"`
	Virtual     string `json:"virtual"`
	Destination string `json:"destination"`
	Template    bool   `json:"template,omitempty"`
}

// Snapshot copies the table.
func (t *Table) Snapshot() Snapshot {
	tcp, fin, udp := t.Timeouts()
	snap := Snapshot{TCPTimeout: int(tcp / time.Second), TCPFinTimeout: int(fin / time.Second),
		UDPTimeout: int(udp / time.Second)}
	network := t.network()
	for _, s := range t.Services() {
		cfg := s.Config()
		k := s.Key()
		ss := ServiceStatus{
			Name: cfg.Name, Key: k.String(), Proto: cfg.Proto.String(), VIP: cfg.VIP.String(),
			Port: cfg.Port, FWMark: k.FWMark, Family: int(k.AddrFamily()),
			Scheduler: string(s.SchedulerName()), SchedFlags: cfg.SchedFlags.Format(cfg.Scheduler),
			OnePacket: cfg.OnePacket, Stats: s.Counters.Snapshot(), Rates: s.Rates(),
			MaxConns: cfg.MaxConns, Refused: s.refused.Load(),
		}
		if k.IsMark() {
			ss.MarkPorts = cfg.MarkPorts.String()
		}
		if cfg.Persistence.Enabled() {
			ss.Persistent = int(cfg.Persistence.Timeout / time.Second)
			ss.PrefixLen = cfg.Persistence.Bits(k.AddrFamily())
		}
		for _, d := range s.allDests() {
			rc := d.Config()
			fwd := rc.Forward
			if fwd == model.ForwardDefault {
				fwd = network
			}
			ss.Dests = append(ss.Dests, DestStatus{
				Name: rc.Name, Addr: d.Addr().String(), Port: d.Port(), Forward: fwd.IPVSName(),
				Weight: d.Weight(), ConfigWeight: rc.Weight, ActiveConns: d.ActiveConns(),
				InactiveConns: d.InactiveConns(), PersistConns: d.PersistConns(),
				State: d.State().String(), Reason: d.Reason(), Removed: d.Removed(),
				Overloaded: d.Overloaded(), Stats: d.Counters.Snapshot(), Rates: d.Rates(),
				UpperThreshold: rc.UpperThreshold, LowerThreshold: rc.LowerThreshold,
			})
		}
		snap.Services = append(snap.Services, ss)
	}
	return snap
}

// ConnSnapshot lists the connection entries and persistence templates.
func (t *Table) ConnSnapshot() []ConnStatus {
	now := t.clock.Now()
	left := func(exp time.Time) int { return max(0, int(exp.Sub(now)/time.Second)) }
	var out []ConnStatus
	t.Conns(func(c *Conn) bool {
		out = append(out, ConnStatus{Proto: c.Proto.String(), Expires: left(c.Expires()),
			State: c.State().String(), Source: c.Client.String(), Virtual: c.Virtual.String(),
			Destination: c.Target.String()})
		return true
	})
	t.linger.rangeAll(func(r *lingerRec) bool {
		out = append(out, ConnStatus{Proto: r.proto.String(), Expires: left(time.Unix(0, r.at)),
			State: ConnState(r.state).String(), Source: r.client.unpack().String(),
			Virtual: r.virtual.unpack().String(), Destination: r.target.unpack().String()})
		return true
	})
	t.Templates(func(tp *persistence.Template[*Dest]) bool {
		k := tp.Key
		state := "NONE"
		if tp.Assured() {
			state = "ASSURED"
		}
		cs := ConnStatus{Proto: "IP", State: state, Template: true,
			Source:      netip.AddrPortFrom(tp.Key.Client, 0).String(),
			Destination: netip.AddrPortFrom(tp.Dest.Addr(), 0).String()}
		if tp.Controls() > 0 {
			cs.Expires = int(tp.Timeout() / time.Second)
		} else {
			cs.Expires = left(tp.Expires())
		}
		if k.Service.IsMark() {
			// The kernel stores a mark template's mark in its virtual
			// address, and ipvsadm -c prints it as such (0.0.0.80:0).
			m := k.Service.FWMark
			cs.Virtual = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}), 0).String()
		} else {
			// A port service's template carries the real server's port
			// (ip_vs_sched_persist), a mark service's none.
			cs.Proto = k.Service.Proto.String()
			cs.Virtual = netip.AddrPortFrom(k.Service.Addr, k.Service.Port).String()
			cs.Destination = netip.AddrPortFrom(tp.Dest.Addr(), tp.Dest.Port()).String()
		}
		out = append(out, cs)
		return true
	})
	slices.SortFunc(out, func(a, b ConnStatus) int {
		return cmp.Or(cmp.Compare(a.Virtual, b.Virtual), cmp.Compare(a.Source, b.Source))
	})
	return out
}
