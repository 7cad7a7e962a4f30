//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"

	"github.com/govs/govs/model"
	"github.com/govs/govs/table"
)

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
