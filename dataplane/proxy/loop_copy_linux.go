//go:build linux

package proxy

import (
	"golang.org/x/sys/unix"

	"github.com/govs/govs/table"
)

// buf lends a copy buffer.
func (lp *evloop) buf() []byte {
	if n := len(lp.free); n > 0 {
		b := lp.free[n-1]
		lp.free = lp.free[:n-1]
		return b
	}
	return make([]byte, loopBuf)
}

func (lp *evloop) put(b []byte) {
	if len(lp.free) < maxFreeBufs {
		lp.free = append(lp.free, b)
	}
}

// pipe is a pipe lent to a bulk direction for splice(2).
type pipe struct{ r, w, size int }

func (p *pipe) close() {
	rawClose(p.r)
	rawClose(p.w)
}

// takePipe lends an empty pipe, or returns nil if none can be made.
func (lp *evloop) takePipe() *pipe {
	if n := len(lp.pipes); n > 0 {
		p := lp.pipes[n-1]
		lp.pipes = lp.pipes[:n-1]
		return p
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil
	}
	// A larger pipe moves more per splice; the kernel may refuse (the
	// per-user pipe memory limit), and the default size still works.
	size, err := unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, spliceMax)
	if err != nil {
		if size, err = unix.FcntlInt(uintptr(fds[0]), unix.F_GETPIPE_SZ, 0); err != nil {
			size = 64 << 10
		}
	}
	return &pipe{r: fds[0], w: fds[1], size: size}
}

// givePipe takes back an empty pipe.
func (lp *evloop) givePipe(p *pipe) {
	if len(lp.pipes) < maxFreePipes {
		lp.pipes = append(lp.pipes, p)
		return
	}
	p.close()
}

// run moves what both directions can, and releases the connection once
// both are closed.
func (c *lconn) run() {
	if c.closed || c.connecting {
		return
	}
	done := c.move(0)
	if c.closed {
		return
	}
	done = c.move(1) && done
	if c.closed {
		return
	}
	if !done && !c.queued {
		c.queued = true
		c.lp.again = append(c.lp.again, c)
	}
}

// move copies direction i (0: client to server, 1: server to client) until
// its source or sink would block, or its budget is spent; it returns false
// in the last case.
func (c *lconn) move(i int) bool {
	d := &c.dir[i]
	src, dst := i, 1-i
	lp := c.lp
	for range loopSpin {
		if d.inPipe > 0 {
			if c.rdy[dst]&canWrite == 0 || !c.spliceOut(d, dst) {
				return true
			}
			continue
		}
		if d.end > d.off {
			if c.rdy[dst]&canWrite == 0 {
				return true
			}
			n, err := rawWrite(c.fd[dst], d.buf[d.off:d.end])
			if err != 0 {
				c.failed(dst, canWrite, err)
				return true
			}
			// Only EAGAIN says that dst is full, as for a splice.
			if d.off += n; d.off < d.end {
				continue
			}
			lp.put(d.buf)
			d.buf, d.off, d.end = nil, 0, 0
		}
		if i == 0 && (c.stalled || !c.tc.Dest().Available()) {
			c.stalled = true
			// What was read before is passed on; nothing more is taken
			// from the client, not even its FIN, as the kernel drops a
			// segment for a dest that is not available.
			return true
		}
		if d.oob || c.rdy[src]&urgent != 0 {
			if !c.passUrgent(i) {
				return true
			}
		}
		if d.eof {
			if !d.shut {
				c.fin(i)
			}
			return true
		}
		if c.rdy[src]&canRead == 0 {
			return true
		}
		if d.bulk && lp.splice {
			if !c.spliceIn(i) {
				return true
			}
			continue
		}
		b := lp.buf()
		n, err := rawRead(c.fd[src], b)
		if err != 0 {
			lp.put(b)
			c.failed(src, canRead, err)
			return true
		}
		if n == 0 {
			lp.put(b)
			d.eof = true
			continue
		}
		c.account(i, n)
		// A short read drained the socket: edge-triggered epoll reports
		// the next arrival. If the peer's FIN had come, every byte before
		// it was queued already (TCP takes the FIN in sequence), so this
		// is the end: the read that would return 0 is saved. After an
		// error, read on to see it.
		if n < len(b) {
			switch {
			case c.rdy[src]&urgent != 0:
				// A read stops short at the urgent mark, not only at the
				// end: read on once the urgent byte is passed.
			case c.rdy[src]&finRcvd != 0:
				d.eof = true
			case c.rdy[src]&rdHup == 0:
				c.rdy[src] &^= canRead
			}
		}
		// A full buffer marks a bulk transfer: from now on the direction
		// moves through a pipe, without copies.
		d.bulk = n == len(b)
		d.buf, d.off, d.end = b, 0, n
	}
	return false
}

// passUrgent passes direction i's urgent data on as urgent data, once the
// stream has reached its mark (reads and splices stop there, so what came
// before it has been written to dst by now): the byte is taken with
// MSG_OOB and sent with MSG_OOB, which puts the peer's urgent pointer at
// the same place in the stream, as the kernel forwarding the segment would
// leave it. It returns false while dst has no room for the byte.
func (c *lconn) passUrgent(i int) bool {
	d, src, dst := &c.dir[i], i, 1-i
	if !d.oob {
		mark, err := unix.IoctlGetInt(c.fd[src], unix.SIOCATMARK)
		if err != nil {
			c.rdy[src] &^= urgent
			return true
		}
		if mark != 1 {
			return true // not there yet
		}
		var b [1]byte
		n, _, err := unix.Recvfrom(c.fd[src], b[:], unix.MSG_OOB|unix.MSG_DONTWAIT)
		c.rdy[src] &^= urgent
		// The data after the mark was there all along; a short read that
		// stopped at the mark had said otherwise.
		c.rdy[src] |= canRead
		if err != nil || n != 1 {
			return true // EINVAL: none left, a later urgent byte replaced it
		}
		d.oob, d.oobByte = true, b[0]
		c.account(i, 1)
	}
	if c.rdy[dst]&canWrite == 0 {
		return false
	}
	switch err := unix.Sendto(c.fd[dst], []byte{d.oobByte}, unix.MSG_OOB, nil); err {
	case nil:
		d.oob = false
		return true
	case unix.EAGAIN:
		c.rdy[dst] &^= canWrite
		return false
	}
	c.close(true)
	return false
}

// spliceOut moves what direction d holds in its pipe to the socket dst, or
// some of it. It returns false when dst is full or the connection failed.
func (c *lconn) spliceOut(d *ldir, dst int) bool {
	n, err := rawSplice(d.pipe.r, c.fd[dst], d.inPipe)
	if err != 0 {
		c.failed(dst, canWrite, err)
		return false
	}
	// A splice may stop short with room left in the socket, so only
	// EAGAIN says that dst is full.
	d.inPipe -= n
	return true
}

// spliceIn moves what the socket src has into direction d's pipe, taking a
// pipe if d has none. It returns false when there is nothing to move now;
// a drained direction gives its pipe back, so an idle connection holds no
// pipe.
func (c *lconn) spliceIn(i int) bool {
	d, src, lp := &c.dir[i], i, c.lp
	if d.pipe == nil {
		if d.pipe = lp.takePipe(); d.pipe == nil {
			d.bulk = false // no pipe to be had: copy
			return true
		}
	}
	n, err := rawSplice(c.fd[src], d.pipe.w, d.pipe.size)
	if err != 0 {
		if c.failed(src, canRead, err) {
			lp.givePipe(d.pipe)
			d.pipe = nil
		}
		return false
	}
	if n == 0 {
		lp.givePipe(d.pipe)
		d.pipe = nil
		d.eof = true
		return true
	}
	// No short-read shortcut here: a splice also stops when the pipe runs
	// out of slots, one per segment, with bytes left in the socket.
	c.account(i, n)
	d.inPipe = n
	return true
}

// failed takes the error of a read from or a write to socket s, bit being
// the readiness the call used. EAGAIN clears the bit until the poller sets
// it again and returns true. Any other error is the peer resetting (or
// worse): the other side gets a reset too, as the kernel would forward the
// RST.
func (c *lconn) failed(s int, bit uint8, err unix.Errno) (again bool) {
	if err == unix.EAGAIN {
		c.rdy[s] &^= bit
		return true
	}
	c.close(true)
	return false
}

// fin passes direction i's FIN on. If the other direction is closed
// already, both sockets close instead: close sends the same FIN, and a
// shutdown would only cost a system call.
func (c *lconn) fin(i int) {
	d := &c.dir[i]
	d.shut = true
	if c.dir[1-i].shut {
		c.close(false)
		return
	}
	rawShutdown(c.fd[1-i], unix.SHUT_WR)
	// A FIN is traffic: tcpfin_timeout runs from it, as in IPVS.
	c.last = c.lp.now
	c.tc.SetState(table.ConnFinWait)
	if due := c.last + int64(c.tc.Timeout()); due < c.due {
		c.lp.schedule(c, due)
	}
}

// account reports n bytes of direction i to the table. Packets are
// estimated: a proxy sees a byte stream, not segments.
func (c *lconn) account(i, n int) {
	pk := uint64((n + mss - 1) / mss)
	if i == 0 {
		c.tc.AddIn(pk, uint64(n))
	} else {
		c.tc.AddOut(pk, uint64(n))
	}
	now := c.lp.now
	c.last = now
	if now-c.touched >= int64(touchEvery) {
		c.touched = now
		c.tc.TouchAt(c.lp.p.clk.at(now))
	}
}
