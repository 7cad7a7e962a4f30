package testutil

import (
	"sync"
	"sync/atomic"
)

// Load is client traffic that runs while a test changes what serves it
// (reloads, say), and counts what failed meanwhile.
type Load struct {
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
	ok, failed atomic.Int64
	first      atomic.Pointer[error]
}

// StartLoad starts workers goroutines, each calling try(w, i) for i from 0
// to n-1, w being the worker's number, until Stop. A try that returns an
// error counts as failed.
func StartLoad(workers, n int, try func(w, i int) error) *Load {
	l := &Load{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Go(func() {
			for i := range n {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := try(w, i); err != nil {
					l.failed.Add(1)
					l.first.CompareAndSwap(nil, &err)
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	return l
}

// Stop ends the load, waits for the tries under way, and returns how many
// tries succeeded and failed, and the first failure's error (nil if none).
// Calling it again returns the same counts.
func (l *Load) Stop() (ok, failed int64, first error) {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	if p := l.first.Load(); p != nil {
		first = *p
	}
	return l.ok.Load(), l.failed.Load(), first
}
