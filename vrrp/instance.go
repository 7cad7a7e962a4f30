package vrrp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Packet is an IP datagram of protocol 112 as a Network delivers it.
type Packet struct {
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or the IPv6 hop limit.
	TTL     int
	Payload []byte
}

// Network carries adverts. It is an interface so that the state machine
// and its timing are tested over an in-memory fake; the Linux
// implementation is ListenIP.
type Network interface {
	// Send transmits one VRRP message to dst (the group or a peer) with
	// TTL 255.
	Send(payload []byte, dst netip.Addr) error
	// Receive blocks for the next packet; it fails once Close is called.
	Receive() (Packet, error)
	// Close releases the network and unblocks Receive.
	Close() error
}

// Status is a snapshot of an instance for listings.
type Status struct {
	State State `json:"-"`
	// Master is the current master's address (ours when master).
	Master netip.Addr `json:"master,omitzero"`
	// LastAdvert is when the last accepted advert arrived, from whom and
	// with what priority.
	LastAdvert   time.Time  `json:"last_advert,omitzero"`
	LastFrom     netip.Addr `json:"last_advert_from,omitzero"`
	LastPriority uint8      `json:"last_advert_priority,omitempty"`
	// Since is when the state last changed.
	Since time.Time `json:"since,omitzero"`
}

// Options tune an Instance.
type Options struct {
	// Logger gets elections and dropped adverts; discarded if nil.
	Logger *slog.Logger
	// Now tells the time; time.Now if nil.
	Now func() time.Time
	// OnChange is called, from the instance's goroutine and before it
	// handles anything else, on every state change. It should be quick:
	// adverts wait for it.
	OnChange func(from, to State, why string)
	// OnReannounce is called, likewise, when the master met another master
	// and stayed: the addresses should be announced again.
	OnReannounce func()
}

// Instance runs a Machine over a Network with real timers.
type Instance struct {
	m   *Machine
	net Network
	o   Options
	log *slog.Logger

	fault chan bool
	// queued counts packets received and not yet handled (Busy).
	queued atomic.Int32

	// A master that keeps meeting another one (a peer that does not hear
	// us) would log a clash every interval; one line per clashLogEvery,
	// with the count, says as much.
	lastClashLog time.Time
	clashes      int

	mu     sync.Mutex
	status Status
}

// clashLogEvery spaces the log lines of repeated clashes.
const clashLogEvery = 10 * time.Second

// NewInstance returns an instance of cfg on net; Run starts it.
func NewInstance(cfg Config, net Network, o Options) *Instance {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	in := &Instance{net: net, o: o, log: o.Logger, fault: make(chan bool, 8)}
	in.m = NewMachine(cfg, Hooks{Send: in.send, Change: in.changed, Reannounce: in.reannounce})
	return in
}

func (in *Instance) send(a *Advert) {
	cfg := in.m.Config()
	dsts := cfg.Peers
	if len(dsts) == 0 {
		g := GroupV4
		if cfg.Local.Is6() && !cfg.Local.Is4In6() {
			g = GroupV6
		}
		dsts = []netip.Addr{g}
	}
	for _, d := range dsts {
		b, err := a.Marshal(cfg.Local, d)
		if err == nil {
			err = in.net.Send(b, d)
		}
		if err != nil {
			in.log.Warn("vrrp: sending advert", "to", d.String(), "error", err.Error())
		}
	}
}

func (in *Instance) changed(from, to State, why string) {
	in.mu.Lock()
	in.status.State = to
	in.status.Since = in.o.Now()
	in.mu.Unlock()
	in.log.Info("vrrp: became "+to.String()+": "+why, "vrid", in.m.Config().VRID, "from", from.String())
	if in.o.OnChange != nil {
		in.o.OnChange(from, to, why)
	}
}

func (in *Instance) reannounce(why string) {
	in.clashes++
	if now := in.o.Now(); now.Sub(in.lastClashLog) >= clashLogEvery {
		in.log.Warn("vrrp: "+why, "vrid", in.m.Config().VRID, "clashes", in.clashes)
		in.lastClashLog, in.clashes = now, 0
	}
	if in.o.OnReannounce != nil {
		in.o.OnReannounce()
	}
}

// SetLinkDown reports the local link's state: down moves the router to
// Fault (giving up the master role), up lets it rejoin as backup.
func (in *Instance) SetLinkDown(down bool) {
	select {
	case in.fault <- down:
	default:
	}
}

// Busy reports whether a received packet waits to be handled: an advert
// that may end this router's term as master. Announcers hold their next
// announcement meanwhile (Pace.Hold), so that a router does not pull the
// LAN back to itself in the moment between a better master's advert and
// its own demotion.
func (in *Instance) Busy() bool { return in.queued.Load() > 0 }

// Status returns a snapshot.
func (in *Instance) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.status
}

// Run runs the router until ctx is done, then shuts it down (a master
// announces priority 0) and closes the network.
func (in *Instance) Run(ctx context.Context) error {
	pkts := make(chan Packet, 64)
	recvErr := make(chan error, 1)
	go func() {
		for {
			p, err := in.net.Receive()
			if err != nil {
				recvErr <- err
				return
			}
			in.queued.Add(1)
			select {
			case pkts <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer in.net.Close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	in.m.Start(in.o.Now())
	for {
		in.m.Expire(in.o.Now())
		in.snapshot()
		timer.Reset(in.wait())
		select {
		case <-ctx.Done():
			in.m.Shutdown(in.o.Now())
			in.snapshot()
			return nil
		case err := <-recvErr:
			in.m.Shutdown(in.o.Now())
			in.snapshot()
			if ctx.Err() != nil {
				return nil
			}
			return errors.Join(errors.New("vrrp: receiving"), err)
		case down := <-in.fault:
			in.m.SetFault(in.o.Now(), down)
		case p := <-pkts:
			in.handle(p)
			in.queued.Add(-1)
		case <-timer.C:
		}
	}
}

func (in *Instance) wait() time.Duration {
	next := in.m.Next()
	if next.IsZero() {
		return time.Hour
	}
	d := next.Sub(in.o.Now())
	if d < 0 {
		d = 0
	}
	return d
}

func (in *Instance) handle(p Packet) {
	a, err := Parse(p.Payload, p.Src, p.Dst)
	if err != nil {
		in.log.Debug("vrrp: dropped packet", "from", p.Src.String(), "error", err.Error())
		return
	}
	if v := in.m.Receive(in.o.Now(), p.Src, p.TTL, a); v != Accepted && v != WrongVRID && v != Own {
		in.log.Debug("vrrp: dropped advert", "from", p.Src.String(), "why", v.String())
	}
}

func (in *Instance) snapshot() {
	at, from, prio := in.m.LastAdvert()
	in.mu.Lock()
	in.status.State = in.m.State()
	in.status.Master = in.m.Master()
	in.status.LastAdvert, in.status.LastFrom, in.status.LastPriority = at, from, prio
	in.mu.Unlock()
}
