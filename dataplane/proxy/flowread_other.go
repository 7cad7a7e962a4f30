//go:build !unix

package proxy

import (
	"net"
	"sync"
)

// flowReader reads a flow's replies into a buffer of its own: without raw
// socket reads the buffer must exist before a datagram does.
type flowReader struct {
	c   *net.UDPConn
	buf []byte
}

func (r *flowReader) init(c *net.UDPConn, _ *sync.Pool) error {
	r.c, r.buf = c, make([]byte, maxDatagram)
	return nil
}

func (r *flowReader) read() ([]byte, error) {
	n, err := r.c.Read(r.buf)
	if err != nil {
		return nil, err
	}
	return r.buf[:n], nil
}

func (r *flowReader) release() {}
