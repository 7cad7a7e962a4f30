// Package persistence keeps persistence templates: the records that send a
// client network back to the real server it was first given, across every
// port of a service (every port of a firewall-mark bundle), for as long as the
// client keeps connections open and for a timeout after the last one.
//
// It follows the kernel's templates (ip_vs_sched_persist in ip_vs_core.c):
// a template lives while it controls live connections and expires `timeout`
// after the last one ends. The store is sharded by key so that many
// goroutines can look up and create templates at once; the template's
// counters are atomics so releasing a connection takes no lock.
package persistence

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs/govs/model"
)

// Key identifies a template: the service it belongs to and the client's
// network (its address under the service's persistence mask). For a
// firewall-mark service, a service on port 21 or a port-0 service the key's
// port is zero, so one template covers every port, as in the kernel.
type Key struct {
	Service model.ServiceKey
	Client  netip.Addr
}

// MakeKey builds the template key for a client of service svc with the
// given persistence prefix length.
func MakeKey(svc model.ServiceKey, client netip.Addr, bits int) Key {
	client = client.Unmap()
	if bits < client.BitLen() {
		p, err := client.Prefix(bits)
		if err == nil {
			client = p.Addr()
		}
	}
	if !svc.IsMark() && (svc.Port == 21 || svc.Port == 0) {
		svc.Port = 0
	}
	return Key{Service: svc, Client: client}
}

// Template is one persistence record.
type Template[D any] struct {
	Key     Key
	Dest    D
	timeout time.Duration
	created time.Time
	// controls counts the live connections this template controls; expires
	// (Unix nanoseconds) only matters while it is zero.
	controls atomic.Int64
	expires  atomic.Int64
	assured  atomic.Bool
}

// Assure marks the template as having controlled an established
// connection: the kernel's ip_vs_control_assure_ct, after which ipvsadm
// shows the template ASSURED instead of NONE.
func (t *Template[D]) Assure() { t.assured.Store(true) }

// Assured reports whether Assure was called.
func (t *Template[D]) Assured() bool { return t.assured.Load() }

// Acquire records one more connection controlled by the template.
func (t *Template[D]) Acquire() { t.controls.Add(1) }

// Release records the end of a controlled connection at now. When it was
// the last, the template expires its timeout later. The expiry is written
// before the count drops so a concurrent sweep that sees no controls also
// sees the new expiry.
func (t *Template[D]) Release(now time.Time) {
	t.expires.Store(now.Add(t.timeout).UnixNano())
	t.controls.Add(-1)
}

// Controls returns the number of live connections the template controls.
func (t *Template[D]) Controls() int { return int(t.controls.Load()) }

// Expires returns when the template expires if no connection uses it.
func (t *Template[D]) Expires() time.Time { return time.Unix(0, t.expires.Load()) }

// Timeout returns the template's timeout.
func (t *Template[D]) Timeout() time.Duration { return t.timeout }

// Created returns when the template was made.
func (t *Template[D]) Created() time.Time { return t.created }

// Live reports whether the template still holds at now.
func (t *Template[D]) Live(now time.Time) bool {
	return t.controls.Load() > 0 || now.UnixNano() < t.expires.Load()
}

const shardCount = 64

type shard[D any] struct {
	mu sync.Mutex
	m  map[Key]*Template[D]
}

// Store holds templates. The zero value is not usable; call New.
type Store[D any] struct {
	seed   maphash.Seed
	shards [shardCount]shard[D]
	count  atomic.Int64
}

// New returns an empty store.
func New[D any]() *Store[D] {
	s := &Store[D]{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[Key]*Template[D])
	}
	return s
}

func (s *Store[D]) shard(k Key) *shard[D] {
	return &s.shards[maphash.Comparable(s.seed, k)%shardCount]
}

// Len returns the number of templates held (live or awaiting a sweep).
func (s *Store[D]) Len() int { return int(s.count.Load()) }

// Acquire returns the template for k with one more controlled connection.
// An existing live template is used if valid(dest) holds; otherwise (none,
// expired, or its destination no longer valid) pick is called, under the
// key's shard lock so concurrent first connections of one client agree, and
// a new template is made for its destination. pick returning false means no
// destination: nothing is stored and Acquire returns nil. replaced is the
// destination of a template that was dropped because it was no longer valid,
// so the caller can adjust its counts.
func (s *Store[D]) Acquire(k Key, now time.Time, timeout time.Duration,
	valid func(D) bool, pick func() (D, bool)) (t *Template[D], created bool, dropped *Template[D]) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[k]; ok {
		if old.Live(now) && valid(old.Dest) {
			old.Acquire()
			return old, false, nil
		}
		delete(sh.m, k)
		s.count.Add(-1)
		dropped = old
	}
	d, ok := pick()
	if !ok {
		return nil, false, dropped
	}
	t = &Template[D]{Key: k, Dest: d, timeout: timeout, created: now}
	t.expires.Store(now.Add(timeout).UnixNano())
	t.controls.Store(1)
	sh.m[k] = t
	s.count.Add(1)
	return t, true, dropped
}

// Get returns the template for k if it is live at now.
func (s *Store[D]) Get(k Key, now time.Time) (*Template[D], bool) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t, ok := sh.m[k]
	if !ok || !t.Live(now) {
		return nil, false
	}
	return t, true
}

// Put stores a template for k pointing at d, replacing any other; it is used
// by state sync to install a peer's templates. It returns the replaced one.
func (s *Store[D]) Put(k Key, d D, timeout time.Duration, expires time.Time, now time.Time) (old *Template[D]) {
	t := &Template[D]{Key: k, Dest: d, timeout: timeout, created: now}
	t.expires.Store(expires.UnixNano())
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old = sh.m[k]
	if old == nil {
		s.count.Add(1)
	}
	sh.m[k] = t
	return old
}

// DeleteFunc removes every template for which drop returns true and calls
// gone for each removed one.
func (s *Store[D]) DeleteFunc(drop func(*Template[D]) bool, gone func(*Template[D])) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, t := range sh.m {
			if drop(t) {
				delete(sh.m, k)
				s.count.Add(-1)
				n++
				if gone != nil {
					gone(t)
				}
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// Expire removes templates that are no longer live at now and returns them
// through gone.
func (s *Store[D]) Expire(now time.Time, gone func(*Template[D])) int {
	return s.DeleteFunc(func(t *Template[D]) bool { return !t.Live(now) }, gone)
}

// Range calls fn for every template until it returns false. Templates are
// visited shard by shard; fn must not call back into the store.
func (s *Store[D]) Range(fn func(*Template[D]) bool) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, t := range sh.m {
			if !fn(t) {
				sh.mu.Unlock()
				return
			}
		}
		sh.mu.Unlock()
	}
}
