package proxy

import (
	"sync"
	"sync/atomic"
)

const regShards = 16

// registry holds the open TCP connections so that Close can cut them. It is
// an intrusive list per shard: registering a connection allocates nothing
// and takes one of several locks.
type registry struct {
	next   atomic.Uint32
	shards [regShards]regShard
}

type regShard struct {
	mu   sync.Mutex
	head *tcpConn
	_    [40]byte // keep shards' locks on separate cache lines
}

// add registers c; it returns false once Close has started cutting
// connections, so that none slips past it.
func (r *registry) add(p *Plane, c *tcpConn) bool {
	sh := &r.shards[r.next.Add(1)%regShards]
	sh.mu.Lock()
	if p.forced.Load() {
		sh.mu.Unlock()
		return false
	}
	c.shard = sh
	c.next = sh.head
	if sh.head != nil {
		sh.head.prev = c
	}
	sh.head = c
	sh.mu.Unlock()
	p.opened()
	return true
}

// remove unregisters c.
func (r *registry) remove(p *Plane, c *tcpConn) {
	sh := c.shard
	sh.mu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		sh.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	sh.mu.Unlock()
	p.budget.giveTCP()
	p.ended()
}

// closeAll closes the sockets of every registered connection; their
// goroutines then unregister them. It returns how many there were.
func (r *registry) closeAll() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for c := sh.head; c != nil; c = c.next {
			c.closeSockets()
			n++
		}
		sh.mu.Unlock()
	}
	return n
}

// each calls fn for every registered connection, under its shard's lock.
func (r *registry) each(fn func(*tcpConn)) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for c := sh.head; c != nil; c = c.next {
			fn(c)
		}
		sh.mu.Unlock()
	}
}
