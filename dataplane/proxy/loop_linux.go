//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

const (
	// loopBuf is the size of an event loop's copy buffers. Buffers are
	// lent per transfer and return to the loop as soon as the peer took
	// the bytes, so an idle connection holds none.
	loopBuf = 64 << 10
	// loopSpin bounds the transfers of one direction per wake-up, so that
	// a bulk transfer cannot starve the loop's other connections.
	loopSpin = 16
	// acceptBatch bounds the accepts per listener per wake-up.
	acceptBatch = 64
	// maxFreeBufs bounds the buffers a loop keeps for reuse.
	maxFreeBufs = 64
	// maxEvents is the most events one epoll_wait returns.
	maxEvents = 256
	// spliceMax is the pipe size asked for, and the most one splice moves.
	spliceMax = 1 << 20
	// maxFreePipes bounds the pipes a loop keeps for reuse.
	maxFreePipes = 64
)

// Readiness bits of a socket, as last reported by edge-triggered epoll.
const (
	canRead  = 1 << iota
	canWrite // the send buffer has room
	rdHup    // the peer's FIN (or an error) arrived: read until EOF
	finRcvd  // the peer's FIN arrived, no error: a short read reached EOF
	urgent   // urgent data arrived (EPOLLPRI): pass it on at its mark
)

// Sides of an lconn.
const (
	sideClient = 0
	sideServer = 1
)

// newLoops starts one event loop per GOMAXPROCS.
func newLoops(p *Plane) ([]*evloop, error) {
	n := runtime.GOMAXPROCS(0)
	loops := make([]*evloop, 0, n)
	for range n {
		lp, err := newLoop(p, n > 1)
		if err != nil {
			for _, o := range loops {
				o.release()
			}
			return nil, err
		}
		loops = append(loops, lp)
	}
	for _, lp := range loops {
		p.wg.Add(1)
		go lp.serve()
	}
	return loops, nil
}

// evloop is one event loop: an epoll instance, the listeners it accepts
// from and the TCP connections it accepted. Everything but cmds belongs to
// the loop's goroutine.
type evloop struct {
	p         *Plane
	epfd      int
	file      *os.File        // epfd, so that the loop waits in Go's poller
	rc        syscall.RawConn // of file
	wakefd    int             // eventfd: commands are waiting
	exclusive bool            // other loops share the listeners

	mu   sync.Mutex
	cmds []func()
	dead chan struct{} // closed when serve returns

	ents   []ent // by descriptor
	gen    int32
	events []unix.EpollEvent
	now    int64 // precise clock reading of this wake-up
	timers []*lconn
	again  []*lconn // connections with transfers left after their budget
	free   [][]byte
	pipes  []*pipe
	splice bool                // pipes can be had
	paused map[*listener]int64 // listeners that hit a resource limit, and when to resume
	head   *lconn              // open connections
	u      udpLoop             // UDP flows (loop_udp_linux.go)
	quit   bool
}

// ent is what an epoll event's descriptor stands for. gen tells a
// descriptor's current use from an earlier one's stale event.
type ent struct {
	gen int32
	c   *lconn
	l   *listener
	f   *udpFlow
}

func newLoop(p *Plane, exclusive bool) (*evloop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking, the epoll descriptor joins Go's poller: the loop waits
	// for it there, as any goroutine waits for a socket, rather than in a
	// blocking epoll_wait that would hold an OS thread and a processor.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	lp := &evloop{p: p, epfd: epfd, file: f, rc: rc, wakefd: wfd, exclusive: exclusive, splice: !p.opt.NoSplice,
		events: make([]unix.EpollEvent, maxEvents), paused: map[*listener]int64{}, dead: make(chan struct{})}
	lp.u.send = lp.sendReply
	if err := lp.add(wfd, unix.EPOLLIN|unix.EPOLLET, ent{}); err != nil {
		lp.release()
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	return lp, nil
}

func (lp *evloop) release() {
	for _, p := range lp.pipes {
		p.close()
	}
	lp.pipes = nil
	unix.Close(lp.wakefd)
	lp.file.Close()
}

// add registers fd for events, standing for e.
func (lp *evloop) add(fd int, events uint32, e ent) error {
	for fd >= len(lp.ents) {
		lp.ents = append(lp.ents, make([]ent, len(lp.ents)+64)...)
	}
	lp.gen++
	e.gen = lp.gen
	lp.ents[fd] = e
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: e.gen}
	return unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// forget drops fd's entry; the caller closes or unregisters fd.
func (lp *evloop) forget(fd int) {
	if fd >= 0 && fd < len(lp.ents) {
		lp.ents[fd] = ent{}
	}
}

// post runs fn on the loop's goroutine.
func (lp *evloop) post(fn func()) {
	lp.mu.Lock()
	lp.cmds = append(lp.cmds, fn)
	lp.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(lp.wakefd, one[:])
}

// call runs fn on the loop's goroutine and waits for it; it returns
// false, fn not run, if the loop has stopped.
func (lp *evloop) call(fn func()) bool {
	done := make(chan struct{})
	lp.post(func() { fn(); close(done) })
	select {
	case <-done:
		return true
	case <-lp.dead:
		return false
	}
}

func (lp *evloop) runCmds() {
	var b [8]byte
	unix.Read(lp.wakefd, b[:])
	lp.mu.Lock()
	cmds := lp.cmds
	lp.cmds = nil
	lp.mu.Unlock()
	for _, fn := range cmds {
		fn()
	}
}

// serve is the loop's goroutine.
func (lp *evloop) serve() {
	defer lp.p.wg.Done()
	defer close(lp.dead)
	defer lp.release()
	defer func() { lp.cut() }()
	var n int
	ready := func(uintptr) bool {
		n = rawEpollWait(lp.epfd, lp.events)
		return n > 0
	}
	armed := int64(-1) // the deadline set on file; -1: none, -2: unknown
	for !lp.quit {
		if len(lp.again) > 0 {
			n = rawEpollWait(lp.epfd, lp.events)
		} else {
			// ready is tried first: the loop parks only when nothing is.
			next := lp.next()
			if next != armed {
				var t time.Time
				if next >= 0 {
					t = lp.p.clk.at(next)
				}
				lp.file.SetReadDeadline(t)
				armed = next
			}
			if err := lp.rc.Read(ready); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					lp.p.log.Error("proxy event loop stopped", "error", err)
					return
				}
				n, armed = 0, -2
			}
		}
		lp.now = lp.p.clk.precise()
		for i := 0; i < n; i++ {
			lp.dispatch(&lp.events[i])
		}
		if len(lp.again) > 0 {
			again := lp.again
			lp.again = nil
			for _, c := range again {
				c.queued = false
				c.run()
			}
		}
		lp.expire()
	}
}

// next returns when the first timer is due, or -1 if none is set.
func (lp *evloop) next() int64 {
	next := lp.nextFlow()
	if len(lp.timers) > 0 && (next < 0 || lp.timers[0].due < next) {
		next = lp.timers[0].due
	}
	for _, at := range lp.paused {
		if next < 0 || at < next {
			next = at
		}
	}
	return next
}

func (lp *evloop) dispatch(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == lp.wakefd {
		lp.runCmds()
		return
	}
	if fd >= len(lp.ents) || lp.ents[fd].gen != ev.Pad {
		return // the descriptor was closed after this event was queued
	}
	e := lp.ents[fd]
	if e.l != nil {
		lp.accept(e.l, fd)
		return
	}
	if e.f != nil {
		lp.readFlow(e.f)
		return
	}
	c := e.c
	side := sideClient
	if c.fd[sideServer] == fd {
		side = sideServer
	}
	bits := ev.Events
	if bits&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		c.rdy[side] |= canRead
	}
	if bits&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		c.rdy[side] |= canWrite
	}
	if bits&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		c.rdy[side] |= rdHup
	}
	if bits&(unix.EPOLLRDHUP|unix.EPOLLERR) == unix.EPOLLRDHUP {
		c.rdy[side] |= finRcvd
	}
	if bits&unix.EPOLLPRI != 0 {
		c.rdy[side] |= urgent
	}
	if c.connecting {
		if side != sideServer {
			return
		}
		if bits&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			err := error(unix.ECONNREFUSED)
			if n, e := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); e == nil && n != 0 {
				err = unix.Errno(n)
			}
			lp.p.warn("connect to real server failed", "service", c.tc.Service().String(), "server", c.tc.Target.String(),
				"client", c.pkt.Src.String(), "error", err)
			c.close(true)
			return
		}
		if bits&unix.EPOLLOUT == 0 {
			return
		}
		c.established()
	}
	c.run()
}

// accept takes the listener's pending connections.
func (lp *evloop) accept(l *listener, fd int) {
	for range acceptBatch {
		nfd, from, err := rawAccept(fd)
		if err != 0 {
			switch err {
			case unix.EAGAIN:
				return
			case unix.ECONNABORTED:
				continue
			}
			// Out of descriptors or memory: stop watching the listener
			// for a while rather than spin; the backlog holds clients.
			delay := 5 * time.Millisecond
			lp.p.warn("accept failed", "listener", l.id.String(), "error", err, "retry", delay)
			unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, fd, nil)
			lp.forget(fd)
			lp.paused[l] = lp.now + int64(delay)
			return
		}
		lp.open(l, nfd, from)
	}
}

// watch registers a listener with the loop.
func (lp *evloop) watch(l *listener) {
	ev := uint32(unix.EPOLLIN)
	if lp.exclusive {
		ev |= unix.EPOLLEXCLUSIVE
	}
	if err := lp.add(l.fd, ev, ent{l: l}); err != nil {
		lp.p.log.Error("listener not watched", "listener", l.id.String(), "error", err)
	}
}

// unwatch unregisters a listener; the caller closes it.
func (lp *evloop) unwatch(l *listener) {
	if _, ok := lp.paused[l]; ok {
		delete(lp.paused, l)
		return
	}
	unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, l.fd, nil)
	lp.forget(l.fd)
}

// open schedules an accepted connection and connects to its real server.
func (lp *evloop) open(l *listener, fd int, from netip.AddrPort) {
	p := lp.p
	svc := l.service()
	if svc != nil && ftpControl(svc.Config(), l.id.addr.Port()) {
		lp.handoff(l, fd)
		return
	}
	c := &lconn{lp: lp, l: l, fd: [2]int{fd, -1}, hidx: -1}
	c.pkt = table.Packet{Proto: model.ProtoTCP, Src: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Dst: l.id.addr}
	if !p.budget.takeTCP() {
		p.warn("connection refused: socket budget spent", "listener", l.id.String(), "client", c.pkt.Src.String(),
			"tcp_sockets", p.budget.tcp.Load())
		c.reset()
		return
	}
	c.held = true
	if svc == nil {
		p.warn("connection refused", "listener", l.id.String(), "client", c.pkt.Src.String(), "error", table.ErrServiceRemoved)
		c.reset()
		return
	}
	tc, err := svc.Schedule(&c.pkt)
	if err != nil {
		p.warn("connection refused", "listener", l.id.String(), "client", c.pkt.Src.String(), "error", err)
		c.reset()
		return
	}
	c.tc = tc
	sfd, connected, errno := rawDial(tc.Target)
	if errno != 0 {
		p.warn("connect to real server failed", "service", svc.String(), "server", tc.Target.String(),
			"client", c.pkt.Src.String(), "error", os.NewSyscallError("connect", errno))
		c.reset()
		return
	}
	c.fd[sideServer] = sfd
	const watch = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLET
	if err := lp.add(fd, watch, ent{c: c}); err != nil {
		p.warn("connection dropped", "client", c.pkt.Src.String(), "error", err)
		c.reset()
		return
	}
	if err := lp.add(sfd, watch, ent{c: c}); err != nil {
		p.warn("connection dropped", "client", c.pkt.Src.String(), "error", err)
		c.reset()
		return
	}
	p.opened()
	c.open = true
	c.next = lp.head
	if lp.head != nil {
		lp.head.prev = c
	}
	lp.head = c
	if v := tc.Dest().Config().ProxyProtocol; v == 1 || v == 2 {
		h, err := proxyproto.HeaderProxyFromAddrs(byte(v), net.TCPAddrFromAddrPort(from), l.vip).Format()
		if err != nil {
			p.warn("PROXY protocol header not sent", "server", tc.Target.String(), "error", err)
			c.close(false)
			return
		}
		b := lp.buf()
		c.dir[0] = ldir{buf: b, end: copy(b, h)}
	}
	c.connecting = true
	c.last = lp.now
	lp.schedule(c, lp.now+int64(p.opt.DialTimeout))
	if connected {
		c.established()
		c.run()
	}
}

// handoff gives an FTP control connection to the goroutine path, whose
// FTP helper rewrites the control channel.
func (lp *evloop) handoff(l *listener, fd int) {
	p := lp.p
	f := os.NewFile(uintptr(fd), "ftp")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		p.warn("connection dropped", "listener", l.id.String(), "error", err)
		return
	}
	p.wg.Add(1)
	go p.handleTCP(l, nc.(*net.TCPConn))
}

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
				if err == unix.EAGAIN {
					c.rdy[dst] &^= canWrite
					return true
				}
				// A socket error is the peer resetting (or worse): the other
				// side gets a reset too, as the kernel would forward the RST.
				c.close(true)
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
			if err == unix.EAGAIN {
				c.rdy[src] &^= canRead
				return true
			}
			// A socket error is the peer resetting (or worse): the other
			// side gets a reset too, as the kernel would forward the RST.
			c.close(true)
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
		if err == unix.EAGAIN {
			c.rdy[dst] &^= canWrite
			return false
		}
		// A socket error is the peer resetting (or worse): the other
		// side gets a reset too, as the kernel would forward the RST.
		c.close(true)
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
		if err == unix.EAGAIN {
			c.rdy[src] &^= canRead
			lp.givePipe(d.pipe)
			d.pipe = nil
			return false
		}
		// A socket error is the peer resetting (or worse): the other
		// side gets a reset too, as the kernel would forward the RST.
		c.close(true)
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

// expire fires due timers: a connect that took too long, or a connection
// idle for its state's timeout. Traffic does not move a timer; a timer that
// fires early is moved to the real expiry instead.
func (lp *evloop) expire() {
	now := lp.p.clk.precise()
	for l, at := range lp.paused {
		if at <= now {
			delete(lp.paused, l)
			lp.watch(l)
		}
	}
	for len(lp.timers) > 0 && lp.timers[0].due <= now {
		c := lp.timers[0]
		if c.connecting {
			lp.p.warn("connect to real server failed", "service", c.tc.Service().String(), "server", c.tc.Target.String(),
				"client", c.pkt.Src.String(), "error", "timeout")
			c.close(true)
			continue
		}
		if exp := c.last + int64(c.tc.Timeout()); exp > now {
			lp.schedule(c, min(exp, now+int64(idleProbe)))
			continue
		}
		lp.p.log.Debug("connection idle timeout", "client", c.tc.Client.String(), "server", c.tc.Target.String(),
			"state", c.tc.State().String())
		c.close(false)
	}
	lp.expireFlows(now)
}

// cut closes every connection and UDP flow of the loop, for a forced
// Close.
func (lp *evloop) cut() int {
	n := lp.cutFlows()
	for lp.head != nil {
		lp.head.close(false)
		n++
	}
	return n
}

// sweepNodest applies each connection's real server availability (see
// nodest.go): a connection to one that left is reset with expire, else
// stalled; a stalled one whose server is back resumes.
func (lp *evloop) sweepNodest(expire bool) {
	for c := lp.head; c != nil; {
		next := c.next
		avail := c.tc == nil || c.tc.Dest().Available()
		switch {
		case !avail && expire:
			lp.p.warn("connection expired: its real server left (expire_nodest_conn)",
				"client", c.pkt.Src.String(), "server", c.tc.Target.String())
			c.close(true)
		case !avail:
			c.stalled = true
		case c.stalled:
			c.stalled = false
			c.run()
		}
		c = next
	}
}

// Timers: a binary min-heap of connections by due time.

func (lp *evloop) schedule(c *lconn, due int64) {
	c.due = due
	if c.hidx < 0 {
		c.hidx = len(lp.timers)
		lp.timers = append(lp.timers, c)
	}
	lp.up(c.hidx)
	lp.down(c.hidx)
}

func (lp *evloop) unschedule(c *lconn) {
	i, last := c.hidx, len(lp.timers)-1
	lp.swap(i, last)
	lp.timers[last] = nil
	lp.timers = lp.timers[:last]
	c.hidx = -1
	if i < last {
		lp.up(i)
		lp.down(i)
	}
}

func (lp *evloop) swap(i, j int) {
	h := lp.timers
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (lp *evloop) up(i int) {
	h := lp.timers
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].due <= h[i].due {
			return
		}
		lp.swap(i, parent)
		i = parent
	}
}

func (lp *evloop) down(i int) {
	h := lp.timers
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].due < h[l].due {
			m = r
		}
		if h[i].due <= h[m].due {
			return
		}
		lp.swap(i, m)
		i = m
	}
}

// listenRaw binds a listening TCP socket outside Go's poller, for the
// event loops: the runtime would otherwise be woken by every connection
// that it does not accept itself.
func listenRaw(id lkey) (int, error) {
	addr := id.addr.String()
	a := id.addr.Addr()
	var sa unix.Sockaddr
	fam := unix.AF_INET
	if a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(id.addr.Port()), Addr: a.As4()}
	} else {
		fam = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(id.addr.Port()), Addr: a.As16()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("listen on tcp %s: socket: %w", addr, err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("listen on tcp %s: %s: %w", addr, what, os.NewSyscallError(what, err))
	}
	if fam == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := setFreebind(fd, fam == unix.AF_INET6); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	// Accepted sockets inherit TCP_NODELAY: one system call less per
	// connection.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	// The kernel caps the backlog at net.core.somaxconn.
	if err := unix.Listen(fd, 65535); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

func closeRaw(fd int) { unix.Close(fd) }
