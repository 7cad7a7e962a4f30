package proxy

import (
	"sync/atomic"

	"github.com/govs/govs/dataplane"
)

// A userspace proxy holds a socket for every connection side and every UDP
// flow, where the kernel holds a few hundred bytes of state; left
// unbounded, a burst of flows takes every descriptor of the process and
// with it the control socket, the health checks and the web tool, which
// need descriptors too. The budget bounds the sockets traffic may hold:
// a new connection or flow that would exceed it is refused (a TCP client
// gets a reset, a UDP datagram is dropped, as the kernel drops one it has
// no memory for) and counted, and what is already open keeps working.
//
// Neither protocol may take more than three quarters of the budget, so a
// flood of one leaves the other room; UDP flows, each of which also costs
// a goroutine on the goroutine path, are further capped at maxUDPFlows by
// default.

const (
	// minReserve is the fewest descriptors kept out of the budget for
	// listeners, the control socket, health checks, the web tool, logs and
	// the configuration file; reserveShare of the limit is kept when that
	// is more.
	minReserve   = 256
	reserveShare = 8
	// maxUDPFlows caps the default UDP share.
	maxUDPFlows = 65536
)

// budget counts the sockets traffic holds.
type budget struct {
	total, tcpMax, udpMax int64
	used, tcp, udp        atomic.Int64
	// maxFlows is lvs.cf's global max_conns (0: none): connections and
	// UDP flows, whatever sockets they hold.
	maxFlows, flows atomic.Int64
	refusedTCP      atomic.Uint64
	refusedUDP      atomic.Uint64
}

// newBudget sizes the budget: sockets, when above 0, or what the process's
// descriptor limit leaves after the reserve.
func newBudget(sockets int) *budget {
	total := int64(sockets)
	if total <= 0 {
		limit := int64(descriptorLimit())
		total = max(limit-max(minReserve, limit/reserveShare), 16)
	}
	b := &budget{total: total, tcpMax: max(total*3/4, 2), udpMax: max(total*3/4, 1)}
	if sockets <= 0 {
		b.udpMax = min(b.udpMax, maxUDPFlows)
	}
	return b
}

// takeTCP reserves the two sockets of a TCP connection.
func (b *budget) takeTCP() bool { return b.take(&b.tcp, b.tcpMax, 2, &b.refusedTCP) }

func (b *budget) giveTCP() { b.give(&b.tcp, 2) }

// takeUDP reserves the socket of a UDP flow.
func (b *budget) takeUDP() bool { return b.take(&b.udp, b.udpMax, 1, &b.refusedUDP) }

func (b *budget) giveUDP() { b.give(&b.udp, 1) }

// take reserves n sockets of share, or counts the refusal in refused.
func (b *budget) take(share *atomic.Int64, shareMax, n int64, refused *atomic.Uint64) bool {
	if !b.reserve(share, shareMax, n) {
		refused.Add(1)
		return false
	}
	return true
}

func (b *budget) reserve(share *atomic.Int64, shareMax, n int64) bool {
	if m := b.maxFlows.Load(); b.flows.Add(1) > m && m > 0 {
		b.flows.Add(-1)
		return false
	}
	if share.Add(n) > shareMax {
		b.flows.Add(-1)
		share.Add(-n)
		return false
	}
	if b.used.Add(n) > b.total {
		b.used.Add(-n)
		share.Add(-n)
		b.flows.Add(-1)
		return false
	}
	return true
}

func (b *budget) give(share *atomic.Int64, n int64) {
	share.Add(-n)
	b.used.Add(-n)
	b.flows.Add(-1)
}

// Sockets reports the plane's socket budget: its size, how much traffic
// holds, and what was refused for want of it.
func (p *Plane) Sockets() dataplane.Sockets {
	b := p.budget
	dropped := p.udpDropped.Load()
	p.mu.Lock()
	for _, l := range p.listeners {
		if l.udp != nil {
			dropped += receiveDrops(l.udp)
		}
	}
	p.mu.Unlock()
	return dataplane.Sockets{
		DroppedUDP: dropped,
		Limit:      int(b.total),
		InUse:      int(b.used.Load()),
		TCP:        int(b.tcp.Load()),
		UDP:        int(b.udp.Load()),
		RefusedTCP: b.refusedTCP.Load(),
		RefusedUDP: b.refusedUDP.Load(),
		TCPLimit:   int(b.tcpMax),
		UDPLimit:   int(b.udpMax),
		MaxConns:   int(b.maxFlows.Load()),
		Conns:      int(b.flows.Load()),
	}
}
