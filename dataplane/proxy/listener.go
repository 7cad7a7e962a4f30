package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

// lkey identifies a listener.
type lkey struct {
	proto model.Proto
	addr  netip.AddrPort
}

func (k lkey) String() string { return strings.ToLower(k.proto.String()) + " " + k.addr.String() }

// listener is a listening socket on one protocol, address and port, bound
// to the service that owns that port now.
type listener struct {
	p   *Plane
	id  lkey
	svc atomic.Pointer[model.ServiceKey]
	// next is the service a prepared, uncommitted configuration gives the
	// port; accepts use it if the table already dropped svc.
	next atomic.Pointer[model.ServiceKey]

	tcp *net.TCPListener // on the goroutine path
	// fd is the listening socket the event loops accept from, or -1.
	// watched tells that the loops were given it.
	fd      int
	watched bool
	vip     *net.TCPAddr // the local address, for PROXY protocol headers
	udp     *net.UDPConn
	urc     syscall.RawConn // of udp, for the event loops' replies
	pkt     table.Packet    // scratch of the UDP receive goroutine
	rr      uint32          // scratch of the UDP receive goroutine: the loop of the last flow

	// UDP flows, guarded by mu.
	mu       sync.Mutex
	flows    map[netip.AddrPort]*udpFlow
	ops      map[opsKey]*udpFlow
	draining bool // takes no new flows; closes when the last one ends
	closed   bool
}

// service returns the live service the listener feeds, or nil.
func (l *listener) service() *table.Service {
	t := l.p.t
	s := t.Service(*l.svc.Load())
	if s == nil || s.Removed() {
		if k := l.next.Load(); k != nil {
			if n := t.Service(*k); n != nil {
				return n
			}
		}
	}
	return s
}

func (l *listener) close() {
	if l.id.proto == model.ProtoTCP {
		if l.tcp != nil {
			l.tcp.Close()
			return
		}
		if l.fd < 0 {
			return
		}
		if l.watched {
			// The loops must let go first: closed, the descriptor's number
			// could be reused under them.
			for _, lp := range l.p.loops {
				lp.call(func() { lp.unwatch(l) })
			}
		}
		closeRaw(l.fd)
		l.fd = -1
		return
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.closeUDP()
}

// closeUDP closes a UDP listener's socket, keeping what the kernel dropped
// at it in the plane's total.
func (l *listener) closeUDP() {
	l.p.udpDropped.Add(receiveDrops(l.udp))
	l.udp.Close()
}

// listen binds one listener.
func (p *Plane) listen(ctx context.Context, id lkey) (*listener, error) {
	l := &listener{p: p, id: id, fd: -1}
	addr := id.addr.String()
	fam := "4"
	if id.addr.Addr().Is6() {
		fam = "6"
	}
	switch id.proto {
	case model.ProtoTCP:
		l.vip = net.TCPAddrFromAddrPort(id.addr)
		if len(p.loops) > 0 {
			fd, err := listenRaw(id)
			if err != nil {
				return nil, err
			}
			l.fd = fd
			break
		}
		ln, err := p.lc.Listen(ctx, "tcp"+fam, addr)
		if err != nil {
			return nil, fmt.Errorf("listen on tcp %s: %w", addr, err)
		}
		l.tcp = ln.(*net.TCPListener)
	case model.ProtoUDP:
		pc, err := p.lc.ListenPacket(ctx, "udp"+fam, addr)
		if err != nil {
			return nil, fmt.Errorf("listen on udp %s: %w", addr, err)
		}
		l.udp = pc.(*net.UDPConn)
		if len(p.loops) > 0 {
			rc, err := l.udp.SyscallConn()
			if err != nil {
				l.udp.Close()
				return nil, fmt.Errorf("listen on udp %s: %w", addr, err)
			}
			l.urc = rc
		}
		l.flows = map[netip.AddrPort]*udpFlow{}
		l.ops = map[opsKey]*udpFlow{}
	default:
		return nil, fmt.Errorf("listen on %s: unsupported protocol", id)
	}
	return l, nil
}

// schedule asks l's service for the real server of a new connection.
func (p *Plane) schedule(l *listener, pkt *table.Packet) (*table.Service, *table.Conn, error) {
	svc := l.service()
	if svc == nil {
		return nil, nil, table.ErrServiceRemoved
	}
	tc, err := svc.Schedule(pkt)
	return svc, tc, err
}

// pick is schedule for one-packet scheduling.
func (p *Plane) pick(l *listener, pkt *table.Packet) (*table.Service, *table.Dest, netip.AddrPort, error) {
	svc := l.service()
	if svc == nil {
		return nil, nil, netip.AddrPort{}, table.ErrServiceRemoved
	}
	d, target, err := svc.Pick(pkt)
	return svc, d, target, err
}

// start launches the serving goroutine of a listener. Called with p.mu held.
func (p *Plane) start(l *listener) {
	if l.fd >= 0 {
		l.watched = true
		for _, lp := range p.loops {
			lp.post(func() { lp.watch(l) })
		}
		return
	}
	p.wg.Add(1)
	if l.tcp != nil {
		go p.serveTCP(l)
	} else {
		go p.serveUDP(l)
	}
}

// stopLocked stops a listener that no configuration wants: a TCP listener
// closes at once (its connections live on without it); a UDP socket drains.
// Called with p.mu held.
func (p *Plane) stopLocked(l *listener) {
	if l.id.proto == model.ProtoTCP {
		l.close()
		delete(p.listeners, l.id)
		return
	}
	l.mu.Lock()
	l.draining = true
	idle := len(l.flows)+len(l.ops) == 0
	if idle {
		l.closed = true
	}
	l.mu.Unlock()
	if idle {
		l.closeUDP()
		delete(p.listeners, l.id)
	}
}

// retireIdle closes draining UDP listeners whose last flow ended while a
// prepared configuration held them.
func (p *Plane) retireIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		if l.udp != nil {
			l.mu.Lock()
			d := l.draining
			l.mu.Unlock()
			if d {
				p.stopLocked(l)
			}
		}
	}
}

// retire closes a draining UDP listener once its last flow ended, unless
// a prepared configuration wants it back.
func (l *listener) retire() {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		if _, ok := p.pending.want[l.id]; ok {
			return
		}
	}
	l.mu.Lock()
	d := l.draining && !l.closed
	l.mu.Unlock()
	if d && p.listeners[l.id] == l {
		p.stopLocked(l)
	}
}
