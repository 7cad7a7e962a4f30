//go:build linux

package proxy

import (
	"golang.org/x/sys/unix"

	"github.com/govs/govs/table"
)

// lconn is one proxied TCP connection of an event loop.
type lconn struct {
	lp   *evloop
	l    *listener
	tc   *table.Conn
	pkt  table.Packet
	fd   [2]int   // client and server sockets; -1 when none
	rdy  [2]uint8 // readiness of each socket
	dir  [2]ldir  // client to server, server to client
	last int64    // precise time of the last byte either way
	// touched is when the table entry was last touched.
	touched    int64
	due        int64 // when the timer fires
	hidx       int   // index in the loop's timer heap, -1 if none
	connecting bool
	open       bool // registered: counted by the plane, in the loop's list
	closed     bool
	queued     bool // in the loop's again list
	held       bool // holds two sockets of the plane's budget
	stalled    bool // the real server is not available: the client's bytes wait (nodest.go)
	prev, next *lconn
}

// ldir is one direction of a connection: bytes read and not yet written,
// and how far its close has gone.
type ldir struct {
	buf       []byte
	off, end  int
	eof, shut bool // the source sent FIN; the FIN was passed on
	bulk      bool // splice: the last copy filled a buffer
	pipe      *pipe
	inPipe    int  // bytes in pipe
	oob       bool // oobByte, urgent data taken from the source, awaits room
	oobByte   byte
}

func (c *lconn) established() {
	c.connecting = false
	c.tc.SetState(table.ConnEstablished)
	c.last, c.touched = c.lp.now, c.lp.now
	c.lp.schedule(c, c.wake())
}

// wake returns when to look at the connection next: when it would be idle,
// but within idleProbe, so that a timeout shortened by a reload applies.
func (c *lconn) wake() int64 {
	return min(c.last+int64(c.tc.Timeout()), c.lp.now+int64(idleProbe))
}

// reset closes both sockets with a reset: for a connection not registered
// yet, the refusal a proxy can give (IPVS answers with an ICMP
// unreachable); for an open one, the reset one side sent, passed on.
func (c *lconn) reset() {
	c.giveBudget()
	for _, fd := range c.fd {
		if fd >= 0 {
			unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			c.lp.forget(fd)
			rawClose(fd)
		}
	}
	if c.tc != nil {
		if c.open {
			c.tc.Reset()
		} else {
			c.tc.Close()
		}
	}
}

// giveBudget returns the connection's sockets to the plane's budget.
func (c *lconn) giveBudget() {
	if c.held {
		c.held = false
		c.lp.p.budget.giveTCP()
	}
}

// close releases the connection: sockets, buffers, timer, table entry. With
// rst the client gets a reset.
func (c *lconn) close(rst bool) {
	if c.closed {
		return
	}
	c.closed = true
	lp := c.lp
	if rst || !c.open {
		c.reset()
	} else {
		c.giveBudget()
		for _, fd := range c.fd {
			lp.forget(fd)
			rawClose(fd)
		}
		c.tc.Close()
	}
	for i := range c.dir {
		d := &c.dir[i]
		if d.buf != nil {
			lp.put(d.buf)
			d.buf = nil
		}
		if d.pipe != nil {
			if d.inPipe > 0 {
				d.pipe.close() // holds bytes nobody will read
			} else {
				lp.givePipe(d.pipe)
			}
			d.pipe = nil
		}
	}
	if c.hidx >= 0 {
		lp.unschedule(c)
	}
	if !c.open {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		lp.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	lp.p.ended()
}
