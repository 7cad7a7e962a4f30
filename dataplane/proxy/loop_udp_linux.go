//go:build linux

package proxy

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP flows on the event loops. A flow's socket to its real server is a
// raw non-blocking socket, connected, registered with one loop; the loop
// reads the replies and sends them to the client from the listener's
// socket, and ends the flow when idle. The listener's receive goroutine
// still reads the clients' datagrams and writes them to the flows'
// sockets (listener.forward). A flow thus costs its socket and about
// 300 bytes, not a goroutine and its stack besides.
//
// Ownership: the loop alone reads a flow's socket, registers it and
// closes it, so its descriptor number cannot be reused under a read or
// under the loop's table of descriptors. The receive goroutine writes to
// it only while holding the listener's mu, and only if the flow is still
// in the listener's maps; a flow leaves the maps under that lock before
// the loop closes its socket (closeFlow), and every path that ends a flow
// from elsewhere (udpFlow.end) only unpublishes it and asks the loop to
// close it. A write therefore never reaches a descriptor that was closed
// and perhaps reopened as another client's socket.

// loopFlow is a flow's state on its loop.
type loopFlow struct {
	sa    unix.RawSockaddrInet6 // the client, as the listener's family needs it (an inet4 one at its start)
	salen uintptr
	due   int64 // when the loop looks at the flow's idleness next
	hidx  int   // index in the loop's flow timers, -1 if none
}

// udpLoop is what a loop keeps for its UDP flows.
type udpLoop struct {
	// timers holds every registered flow, by due time: a flow always has
	// one, so the heap is also the loop's list of flows.
	timers []*udpFlow
	// send is sendReply bound once, for the listeners' RawConn.Write; the
	// datagram and its flow are passed in sendF and sendB.
	send    func(fd uintptr) bool
	sendF   *udpFlow
	sendB   []byte
	sendErr syscall.Errno
}

// dialLoop opens a flow's socket for the event loops, in the budget its
// caller took, which it gives back if it fails. Flows are spread over the
// loops in turn.
func (l *listener) dialLoop(target, client netip.AddrPort, now int64) *udpFlow {
	p := l.p
	fd, errno := rawDialUDP(target)
	if errno != 0 {
		p.budget.giveUDP()
		p.warn("udp socket to real server failed", "server", target.String(), "error", errno.Error())
		return nil
	}
	l.rr++
	f := &udpFlow{l: l, client: client, lp: p.loops[l.rr%uint32(len(p.loops))], fd: fd}
	f.lf.hidx = -1
	f.lf.salen = putSockaddr(&f.lf.sa, client, l.id.addr.Addr().Is4())
	f.last.Store(now)
	f.touched.Store(now)
	return f
}

// startLoop has f's loop take it. Called with l.mu held, so that the
// registration is queued before anything that could end the flow or the
// plane (Close cuts the loops' flows after marking the listeners).
func (f *udpFlow) startLoop() {
	lp := f.lp
	lp.post(func() { lp.addFlow(f) })
}

// writeLoop passes a client's datagram to the flow's socket. Called with
// l.mu held and f in the listener's maps (see the top of this file). A
// datagram that finds no room, or an ICMP error to report, is dropped, as
// the network would.
func (f *udpFlow) writeLoop(b []byte) bool {
	_, err := rawWrite(f.fd, b)
	return err == 0
}

// endLoop unpublishes f and has its loop close it.
func (f *udpFlow) endLoop() {
	l := f.l
	l.mu.Lock()
	l.removeLocked(f)
	l.mu.Unlock()
	lp := f.lp
	lp.post(func() { lp.closeFlow(f) })
}

// closeRawFlow closes the socket of a flow that no loop knows yet.
func (f *udpFlow) closeRawFlow() { rawClose(f.fd) }

// addFlow registers a new flow's socket. Level-triggered: a flow that has
// more replies than one wake-up reads is simply reported again.
func (lp *evloop) addFlow(f *udpFlow) {
	if err := lp.add(f.fd, unix.EPOLLIN, ent{f: f}); err != nil {
		lp.p.warn("udp flow dropped", "client", f.client.String(), "error", err)
		lp.closeFlow(f)
		return
	}
	lp.scheduleFlow(f, min(f.last.Load()+int64(f.timeout()), lp.now+int64(idleProbe)))
}

// readFlow relays what the real server sent, at most loopSpin datagrams
// per wake-up so that one busy flow cannot starve the loop.
func (lp *evloop) readFlow(f *udpFlow) {
	b := lp.buf()
	defer lp.put(b)
	for range loopSpin {
		n, err := rawRead(f.fd, b)
		switch err {
		case 0:
		case unix.EAGAIN:
			return
		case unix.ECONNREFUSED:
			// The real server's port answered unreachable to an earlier
			// datagram; the flow stays, as in IPVS.
			continue
		default:
			lp.p.warn("udp flow ended: reading the real server's replies failed", "client", f.client.String(), "error", err.Error())
			lp.closeFlow(f)
			return
		}
		if !lp.reply(f, b[:n]) {
			return
		}
	}
}

// reply sends a reply to the client from the VIP, without waiting: one the
// socket has no room for is dropped, as a network would. The listener's
// socket is used through its RawConn rather than by a descriptor number
// kept aside: a reload may close the listener under the loop, and the
// RawConn holds the number until the send returns. It returns false if
// the flow ended.
func (lp *evloop) reply(f *udpFlow, b []byte) bool {
	u := &lp.u
	u.sendF, u.sendB = f, b
	err := f.l.urc.Write(u.send)
	u.sendF, u.sendB = nil, nil
	if err != nil {
		// The listener closed: its flows' replies have no way out.
		lp.closeFlow(f)
		return false
	}
	switch u.sendErr {
	case 0:
		f.out(len(b), lp.now)
	case unix.EAGAIN, unix.ENOBUFS:
	default:
		lp.p.warn("udp reply dropped", "listener", f.l.id.String(), "client", f.client.String(), "error", u.sendErr.Error())
	}
	return true
}

// sendReply is the send of reply, on the listener's descriptor.
func (lp *evloop) sendReply(fd uintptr) bool {
	u := &lp.u
	u.sendErr = rawSendto(int(fd), u.sendB, &u.sendF.lf.sa, u.sendF.lf.salen)
	return true
}

// expireFlows ends the flows idle for their timeout. As for TCP, traffic
// does not move a flow's timer; one that fires early moves to the real
// expiry, at most idleProbe ahead, so that a shortened timeout applies.
func (lp *evloop) expireFlows(now int64) {
	for len(lp.u.timers) > 0 && lp.u.timers[0].lf.due <= now {
		f := lp.u.timers[0]
		// forward accounts a datagram under l.mu: the check there is
		// final.
		f.l.mu.Lock()
		if exp := f.last.Load() + int64(f.timeout()); exp > now {
			f.l.mu.Unlock()
			lp.scheduleFlow(f, min(exp, now+int64(idleProbe)))
			continue
		}
		lp.releaseFlow(f)
	}
}

// closeFlow releases a flow: unpublished under l.mu, then its socket
// closed, its budget and table entry given back.
func (lp *evloop) closeFlow(f *udpFlow) {
	f.l.mu.Lock()
	lp.releaseFlow(f)
}

// releaseFlow is closeFlow, called with l.mu held, which it releases.
func (lp *evloop) releaseFlow(f *udpFlow) {
	l, p := f.l, lp.p
	if f.ended.Swap(true) {
		l.mu.Unlock()
		return
	}
	l.removeLocked(f)
	draining := l.draining && len(l.flows)+len(l.ops) == 0
	l.mu.Unlock()
	lp.forget(f.fd)
	rawClose(f.fd)
	if f.lf.hidx >= 0 {
		lp.unscheduleFlow(f)
	}
	p.budget.giveUDP()
	if f.tc != nil {
		f.tc.Close()
	}
	p.ended()
	if draining {
		// retire takes p.mu, which a reload holds while it waits for the
		// loops (listener.close): not on the loop's goroutine.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			l.retire()
		}()
	}
}

// cutFlows ends every flow of the loop, for a forced Close.
func (lp *evloop) cutFlows() int {
	n := 0
	for len(lp.u.timers) > 0 {
		lp.closeFlow(lp.u.timers[0])
		n++
	}
	return n
}

// nextFlow returns when the first flow timer is due, or -1 if none is.
func (lp *evloop) nextFlow() int64 {
	if len(lp.u.timers) == 0 {
		return -1
	}
	return lp.u.timers[0].lf.due
}

// Flow timers: a binary min-heap of flows by due time.

func (lp *evloop) scheduleFlow(f *udpFlow, due int64) {
	f.lf.due = due
	if f.lf.hidx < 0 {
		f.lf.hidx = len(lp.u.timers)
		lp.u.timers = append(lp.u.timers, f)
	}
	lp.flowUp(f.lf.hidx)
	lp.flowDown(f.lf.hidx)
}

func (lp *evloop) unscheduleFlow(f *udpFlow) {
	i, last := f.lf.hidx, len(lp.u.timers)-1
	lp.flowSwap(i, last)
	lp.u.timers[last] = nil
	lp.u.timers = lp.u.timers[:last]
	f.lf.hidx = -1
	if i < last {
		lp.flowUp(i)
		lp.flowDown(i)
	}
}

func (lp *evloop) flowSwap(i, j int) {
	h := lp.u.timers
	h[i], h[j] = h[j], h[i]
	h[i].lf.hidx, h[j].lf.hidx = i, j
}

func (lp *evloop) flowUp(i int) {
	h := lp.u.timers
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].lf.due <= h[i].lf.due {
			return
		}
		lp.flowSwap(i, parent)
		i = parent
	}
}

func (lp *evloop) flowDown(i int) {
	h := lp.u.timers
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].lf.due < h[l].lf.due {
			m = r
		}
		if h[i].lf.due <= h[m].lf.due {
			return
		}
		lp.flowSwap(i, m)
		i = m
	}
}

// putSockaddr writes a in sa as an inet4 (v4) or inet6 socket address and
// returns its length.
func putSockaddr(sa *unix.RawSockaddrInet6, a netip.AddrPort, v4 bool) uintptr {
	*sa = unix.RawSockaddrInet6{}
	if v4 {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		s4.Addr = a.Addr().Unmap().As4()
		port := (*[2]byte)(unsafe.Pointer(&s4.Port))
		port[0], port[1] = byte(a.Port()>>8), byte(a.Port())
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Addr = a.Addr().As16()
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = byte(a.Port()>>8), byte(a.Port())
	return unix.SizeofSockaddrInet6
}

// rawDialUDP creates a non-blocking UDP socket connected to target.
func rawDialUDP(target netip.AddrPort) (int, syscall.Errno) {
	var sa unix.RawSockaddrInet6
	v4 := target.Addr().Is4() || target.Addr().Is4In6()
	n := putSockaddr(&sa, target, v4)
	fam := unix.AF_INET6
	if v4 {
		fam = unix.AF_INET
	}
	r, _, e := syscall.RawSyscall(unix.SYS_SOCKET, uintptr(fam), unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	fd := int(r)
	for {
		_, _, e = syscall.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), n)
		if e != unix.EINTR {
			break
		}
	}
	if e != 0 {
		rawClose(fd)
		return -1, e
	}
	return fd, 0
}

// rawSendto sends b to sa without waiting.
func rawSendto(fd int, b []byte, sa *unix.RawSockaddrInet6, n uintptr) syscall.Errno {
	for {
		_, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(sa)), n)
		if e != unix.EINTR {
			return e
		}
	}
}
