//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
