//go:build unix

package proxy

import (
	"net"
	"sync"
	"syscall"
)

// flowReader reads a flow's replies without holding a buffer while it
// waits: the buffer is taken from the pool only once a datagram is there,
// so thousands of quiet flows cost no 64 KiB each.
type flowReader struct {
	rc   syscall.RawConn
	pool *sync.Pool
	fn   func(fd uintptr) bool // r.recv, bound once per flow
	buf  *[]byte
	n    int
	err  error
}

func (r *flowReader) init(c *net.UDPConn, pool *sync.Pool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	r.rc, r.pool = rc, pool
	r.fn = r.recv
	return nil
}

// recv runs when the poller says the socket may be readable.
func (r *flowReader) recv(fd uintptr) bool {
	b := r.pool.Get().(*[]byte)
	for {
		n, err := syscall.Read(int(fd), *b)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			r.pool.Put(b)
			return false
		}
		r.buf, r.n, r.err = b, max(n, 0), err
		return true
	}
}

// read returns the next datagram; release gives its buffer back.
func (r *flowReader) read() ([]byte, error) {
	if err := r.rc.Read(r.fn); err != nil {
		return nil, err
	}
	if r.err != nil {
		err := r.err
		r.release()
		return nil, err
	}
	return (*r.buf)[:r.n], nil
}

func (r *flowReader) release() {
	if r.buf != nil {
		r.pool.Put(r.buf)
		r.buf, r.err = nil, nil
	}
}
