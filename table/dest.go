package table

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/govs/govs/model"
)

// State is a real server's state in the table.
type State uint32

// Real-server states. Up, Quiesced and Draining servers stay in the
// service's scheduling list (the latter two at weight 0, like a kernel dest
// with weight 0); Down and Disabled servers are out of it, and only finish
// the connections they already have.
const (
	// StateUp: scheduled at its weight.
	StateUp State = iota
	// StateQuiesced: a failed health check with quiesce_server = 1. Weight 0;
	// existing connections finish and, as in the kernel, persistence
	// templates still send their clients here unless the service expires
	// quiescent templates.
	StateQuiesced
	// StateDraining: an operator drain. Weight 0; existing connections
	// finish; persistent clients are rescheduled elsewhere.
	StateDraining
	// StateDown: a failed health check. Removed from scheduling; its
	// templates are dropped.
	StateDown
	// StateDisabled: disabled by an operator; as Down.
	StateDisabled
)

var stateNames = [...]string{"up", "quiesced", "draining", "down", "disabled"}

// String returns the state's lower-case name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// States lists every state, in order.
func States() []State {
	out := make([]State, len(stateNames))
	for i := range out {
		out[i] = State(i)
	}
	return out
}

// ParseState reads a state name.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if strings.EqualFold(s, n) {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown real server state %q", s)
}

// InService reports whether a server in this state is in the scheduling list.
func (s State) InService() bool { return s <= StateDraining }

// Counters are cumulative traffic counters, updated atomically.
type Counters struct {
	Conns    atomic.Uint64
	InPkts   atomic.Uint64
	OutPkts  atomic.Uint64
	InBytes  atomic.Uint64
	OutBytes atomic.Uint64
}

// Stats is a plain snapshot of Counters.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"inpkts"`
	OutPkts  uint64 `json:"outpkts"`
	InBytes  uint64 `json:"inbytes"`
	OutBytes uint64 `json:"outbytes"`
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() Stats {
	return Stats{
		Conns:    c.Conns.Load(),
		InPkts:   c.InPkts.Load(),
		OutPkts:  c.OutPkts.Load(),
		InBytes:  c.InBytes.Load(),
		OutBytes: c.OutBytes.Load(),
	}
}

const flagOverload = 1

// Dest is a real server of a live service: the kernel's ip_vs_dest. Its
// counters are atomics so that schedulers read them without locks while data
// planes update them from many goroutines.
type Dest struct {
	key     model.DestKey
	svc     *Service
	cfg     atomic.Pointer[model.RealServer]
	weight  atomic.Int32 // effective weight, what schedulers see
	cweight atomic.Int32 // weight before the state's adjustment (health ramp, agent)
	state   atomic.Uint32
	flags   atomic.Uint32
	active  atomic.Int32
	inact   atomic.Int32
	persist atomic.Int32
	uthresh atomic.Uint32
	lthresh atomic.Uint32
	removed atomic.Bool // no longer in the service's configuration
	avail   atomic.Bool // in its service's scheduling list (see Available)
	watch   atomic.Pointer[LoadWatch]

	// Counters accumulate the real server's traffic.
	Counters Counters
	est      estimator

	// Reason is the last state change's reason, for listings.
	reason atomic.Pointer[string]

	// listed and seq place the dest in its service's scheduling list
	// (see Service.order); guarded by the service's mu.
	listed bool
	seq    uint64
}

// NewDest returns a detached destination, for schedulers' tests and for data
// planes that keep their own lists. It is Up at rs.Weight.
func NewDest(rs model.RealServer) *Dest {
	d := &Dest{key: rs.Key()}
	d.setConfig(rs)
	d.cweight.Store(int32(rs.Weight))
	d.weight.Store(int32(rs.Weight))
	return d
}

func (d *Dest) setConfig(rs model.RealServer) {
	c := rs
	d.cfg.Store(&c)
	d.uthresh.Store(rs.UpperThreshold)
	d.lthresh.Store(rs.LowerThreshold)
}

// Key returns the destination's address and port.
func (d *Dest) Key() model.DestKey { return d.key }

// Addr returns the destination's address.
func (d *Dest) Addr() netip.Addr { return d.key.Addr }

// Port returns the destination's port (0: the client's destination port).
func (d *Dest) Port() uint16 { return d.key.Port }

// Config returns the destination's configuration.
func (d *Dest) Config() model.RealServer { return *d.cfg.Load() }

// Service returns the service the destination belongs to (nil if detached).
func (d *Dest) Service() *Service { return d.svc }

// Weight returns the effective scheduling weight.
func (d *Dest) Weight() int { return int(d.weight.Load()) }

// ActiveConns returns the number of active (TCP established) connections.
func (d *Dest) ActiveConns() int { return int(d.active.Load()) }

// InactiveConns returns the number of other connections.
func (d *Dest) InactiveConns() int { return int(d.inact.Load()) }

// PersistConns returns the number of persistence templates pointing here.
func (d *Dest) PersistConns() int { return int(d.persist.Load()) }

// Overhead is the kernel's load measure: 256 × active + inactive
// (ip_vs_dest_conn_overhead).
func (d *Dest) Overhead() int { return int(d.active.Load())<<8 + int(d.inact.Load()) }

// Overloaded reports whether the upper connection threshold was reached and
// not yet cleared by the lower one.
func (d *Dest) Overloaded() bool { return d.flags.Load()&flagOverload != 0 }

// Eligible reports whether a scheduler may pick the destination for a new
// connection: weight above zero and not overloaded.
func (d *Dest) Eligible() bool { return d.weight.Load() > 0 && d.flags.Load()&flagOverload == 0 }

// State returns the destination's state.
func (d *Dest) State() State { return State(d.state.Load()) }

// Reason returns why the destination last changed state ("" if never).
func (d *Dest) Reason() string {
	if p := d.reason.Load(); p != nil {
		return *p
	}
	return ""
}

// Available reports whether the destination is in its service's list, as
// the kernel's IP_VS_DEST_F_AVAILABLE says a dest is in the kernel: up,
// quiesced, drained, or removed but lingering at weight 0 for its
// connections. A connection whose destination is not available (down,
// disabled, or removed with expire_nodest_conn) no longer carries its
// client's packets: it stalls, or with expire_nodest_conn it is expired
// (ip_vs_in_hook).
func (d *Dest) Available() bool { return d.avail.Load() }

// Removed reports whether the destination left the service's configuration
// (it lingers until its connections finish).
func (d *Dest) Removed() bool { return d.removed.Load() }

// available reports whether a persistence template may keep sending
// clients here: the kernel's ip_vs_check_template, which drops a template
// whose server left the service (IP_VS_DEST_F_AVAILABLE) or, with
// expire_quiescent_template, has weight 0. Drained and quiesced servers
// are at weight 0 in the kernel.
func (d *Dest) available(expireQuiescent bool) bool {
	if d.removed.Load() {
		return false
	}
	switch d.State() {
	case StateUp:
		return !expireQuiescent || d.weight.Load() > 0
	case StateQuiesced, StateDraining:
		return !expireQuiescent
	}
	return false
}

// effectiveWeight derives the scheduling weight from state and base weight.
func effectiveWeight(s State, base int32) int32 {
	if s == StateUp {
		return base
	}
	return 0
}

// LoadWatcher keeps an index of destinations ordered by load, so that a
// scheduler finds the least loaded one without scanning the list. The
// destination tells it of every change to its connection counts or its
// overload flag, after the change, from the goroutine that made it.
type LoadWatcher interface {
	LoadChanged(slot int)
}

// LoadWatch names the watcher of a destination and its slot there.
type LoadWatch struct {
	W    LoadWatcher
	Slot int
}

// Watch makes w the destination's load watcher (nil: none). A scheduler
// calls it from Update for each destination of the new list; the last one
// set wins, so a service that changes scheduler hands its destinations to
// the new one.
func (d *Dest) Watch(w *LoadWatch) { d.watch.Store(w) }

// loadChanged tells the watcher that the counts or the overload flag moved.
func (d *Dest) loadChanged() {
	if w := d.watch.Load(); w != nil {
		w.W.LoadChanged(w.Slot)
	}
}

// SetCounters overwrites the connection counts, for data planes whose
// connections are counted elsewhere (the kernel plane mirrors the kernel's
// counts here). The overload flag follows as in ip_vs_bind_dest.
func (d *Dest) SetCounters(active, inactive, persist int) {
	d.active.Store(int32(active))
	d.inact.Store(int32(inactive))
	d.persist.Store(int32(persist))
	d.updateOverload(true)
	d.updateOverload(false)
	d.loadChanged()
	// A removed server whose last connection the kernel has dropped
	// leaves, as it leaves the kernel.
	if active+inactive == 0 && d.removed.Load() && d.svc != nil {
		d.svc.dropGone(d)
	}
}

// bindConn accounts a new connection (inactive until established) and sets
// the overload flag as ip_vs_bind_dest does.
func (d *Dest) bindConn() {
	d.inact.Add(1)
	d.updateOverload(true)
	d.loadChanged()
}

// updateOverload applies the kernel's threshold rules: on bind, set
// OVERLOAD when active+inactive reaches the upper threshold; on unbind clear
// it below the lower threshold, or below three quarters of the upper one when
// no lower threshold is set (ip_vs_bind_dest / ip_vs_unbind_dest).
func (d *Dest) updateOverload(bind bool) {
	u := d.uthresh.Load()
	conns := uint32(max(0, d.active.Load()+d.inact.Load()))
	if bind {
		if u != 0 && conns >= u {
			d.flags.Or(flagOverload)
		}
		return
	}
	l := d.lthresh.Load()
	switch {
	case l != 0:
		if conns < l {
			d.flags.And(^uint32(flagOverload))
		}
	case u != 0:
		if conns*4 < u*3 {
			d.flags.And(^uint32(flagOverload))
		}
	default:
		d.flags.And(^uint32(flagOverload))
	}
}

// SetWeight sets the weight of a detached destination (one made with
// NewDest). The caller hands the new list to its scheduler's Update, as the
// kernel calls update_service after ipvsadm -e. For a service's real server
// use Service.SetWeight, which does both.
func (d *Dest) SetWeight(w int) {
	d.cweight.Store(int32(w))
	d.weight.Store(effectiveWeight(d.State(), int32(w)))
}
