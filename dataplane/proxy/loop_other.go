//go:build !linux

package proxy

import "errors"

// evloop exists on Linux only; elsewhere TCP is served by goroutines.
type evloop struct{ quit bool }

func newLoops(*Plane) ([]*evloop, error) { return nil, nil }

func (*evloop) post(fn func())      { fn() }
func (*evloop) call(fn func()) bool { fn(); return true }
func (*evloop) watch(*listener)     {}
func (*evloop) unwatch(*listener)   {}
func (*evloop) cut() int            { return 0 }
func (*evloop) sweepNodest(bool)    {}

func listenRaw(id lkey) (int, error) {
	return -1, errors.New("listen on tcp " + id.addr.String() + ": no event loops")
}

func closeRaw(int) {}
