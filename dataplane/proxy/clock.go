package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// clockRes is the coarse clock's resolution. Idle timeouts and rate
// accounting are in seconds, so reading a clock per chunk or datagram would
// buy nothing.
const clockRes = 50 * time.Millisecond

// coarseClock is a monotonic clock that a goroutine advances every clockRes.
// Readings are nanoseconds since the clock started.
type coarseClock struct {
	base time.Time // carries a monotonic reading, so deadlines ignore wall-clock steps
	ns   atomic.Int64
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

func newCoarseClock() *coarseClock {
	c := &coarseClock{base: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *coarseClock) run() {
	defer close(c.done)
	t := time.NewTicker(clockRes)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.ns.Store(int64(time.Since(c.base)))
		}
	}
}

// now returns the coarse time.
func (c *coarseClock) now() int64 { return c.ns.Load() }

// precise returns the exact time on the same scale, for the rare paths
// where being a tick late would make a deadline fire again at once.
func (c *coarseClock) precise() int64 { return int64(time.Since(c.base)) }

// at converts a reading to a time.Time for SetReadDeadline.
func (c *coarseClock) at(ns int64) time.Time { return c.base.Add(time.Duration(ns)) }

// close stops the ticking goroutine and waits for it.
func (c *coarseClock) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
