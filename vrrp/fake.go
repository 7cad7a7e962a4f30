package vrrp

import (
	"errors"
	"net/netip"
	"sync"
)

// Hub is an in-memory link for tests: every packet sent to a group reaches
// every other member, one sent to an address reaches that member, with the
// TTL the hub is set to (so tests can forge off-link senders).
type Hub struct {
	mu    sync.Mutex
	ports map[netip.Addr]*FakeNet
	// TTL is the TTL delivered packets carry; 255 unless changed, as if
	// every sender were on-link.
	TTL int
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{ports: map[netip.Addr]*FakeNet{}, TTL: 255} }

// FakeNet is a member of a Hub; it implements Network.
type FakeNet struct {
	hub  *Hub
	addr netip.Addr
	in   chan Packet
	done chan struct{}
	once sync.Once
	// Down, when set, makes the member neither send nor receive, as if its
	// cable were pulled.
	down bool
}

// Join adds a member with address addr.
func (h *Hub) Join(addr netip.Addr) *FakeNet {
	f := &FakeNet{hub: h, addr: addr, in: make(chan Packet, 256), done: make(chan struct{})}
	h.mu.Lock()
	h.ports[addr] = f
	h.mu.Unlock()
	return f
}

// SetDown cuts or restores the member's link.
func (f *FakeNet) SetDown(down bool) {
	f.hub.mu.Lock()
	f.down = down
	f.hub.mu.Unlock()
}

// Send delivers payload to the group's other members or to one member.
func (f *FakeNet) Send(payload []byte, dst netip.Addr) error {
	h := f.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.down {
		return errors.New("link down")
	}
	p := Packet{Src: f.addr, Dst: dst, TTL: h.TTL, Payload: append([]byte(nil), payload...)}
	for a, o := range h.ports {
		if o == f || o.down || (dst != GroupV4 && dst != GroupV6 && dst != a) {
			continue
		}
		select {
		case o.in <- p:
		default:
		}
	}
	return nil
}

// Receive returns the next packet for this member.
func (f *FakeNet) Receive() (Packet, error) {
	select {
	case p := <-f.in:
		return p, nil
	case <-f.done:
		return Packet{}, errors.New("closed")
	}
}

// Close leaves the hub.
func (f *FakeNet) Close() error {
	f.once.Do(func() {
		close(f.done)
		f.hub.mu.Lock()
		delete(f.hub.ports, f.addr)
		f.hub.mu.Unlock()
	})
	return nil
}
