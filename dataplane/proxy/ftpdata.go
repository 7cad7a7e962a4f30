package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"
)

// The FTP helper's data connections. Each pending data listener holds two
// sockets of the plane's budget, which pass to the connection it accepts
// and the one dialled for it (the listener closes once it accepted), and
// go back when the data connection ends. Whoever takes a listener out of
// ftpSession.pending owns those sockets: a PASV or PORT that replaces it
// and the session's end give them back at once, so that a client asking
// again under a tight budget is not refused for its own stale listener;
// the listener's goroutine keeps them for the connection it accepted, or
// gives them back when its wait ends empty. A connection from another
// address than the session's peer is reset the moment it is accepted; its
// socket is not counted.

// errBudget tells that the plane's socket budget has no room for a data
// connection.
var errBudget = errors.New("socket budget spent")

// listenData opens the session's data listener on addr, replacing a
// pending one: at port when it is not 0 and can be had, else at a port the
// kernel picks. It reserves the sockets of the data connection.
func (s *ftpSession) listenData(addr netip.Addr, port uint16) (*net.TCPListener, error) {
	p := s.c.p
	s.dropPending()
	if !p.budget.takeTCP() {
		return nil, fmt.Errorf("listen for FTP data on %s: %w (%d TCP sockets held)", addr, errBudget, p.budget.tcp.Load())
	}
	var ln *net.TCPListener
	if port != 0 {
		at := netip.AddrPortFrom(addr, port)
		// With the options of the service's listeners: IP_FREEBIND, and
		// SO_REUSEADDR over the TIME_WAIT of an earlier data connection
		// on this port, which still refuses a port another socket listens
		// on.
		l, err := p.lc.Listen(context.Background(), tcpNetwork(addr), at.String())
		if err == nil {
			ln = l.(*net.TCPListener)
		} else {
			p.log.Debug("FTP passive port taken on the VIP: announcing another", "port", at.String(), "error", err)
		}
	}
	if ln == nil {
		l, err := net.ListenTCP(tcpNetwork(addr), net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			p.budget.giveTCP()
			return nil, fmt.Errorf("listen for FTP data on %s: %w", addr, err)
		}
		ln = l
	}
	ln.SetDeadline(time.Now().Add(ftpAcceptTimeout))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		p.budget.giveTCP()
		return nil, net.ErrClosed
	}
	// The other direction's pump may have set one meanwhile.
	old := s.pending
	s.pending = ln
	s.mu.Unlock()
	if old != nil {
		old.Close()
		p.budget.giveTCP()
	}
	return ln, nil
}

func tcpNetwork(a netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

// dropPending closes the pending data listener, giving its sockets back.
func (s *ftpSession) dropPending() {
	s.mu.Lock()
	ln := s.pending
	s.pending = nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
		s.c.p.budget.giveTCP()
	}
}

// claim takes ln out of pending; false if it was dropped already, by
// whoever then gave its sockets back.
func (s *ftpSession) claim(ln *net.TCPListener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != ln {
		return false
	}
	s.pending = nil
	return true
}

// close ends the session's pending listener and data connections.
func (s *ftpSession) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.dropPending()
	s.mu.Lock()
	for d := range s.data {
		d.Close()
	}
	clear(s.data)
	s.mu.Unlock()
}

// track registers a data socket to be closed with the session; false if
// the session already ended.
func (s *ftpSession) track(d io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.data[d] = true
	return true
}

func (s *ftpSession) untrack(d io.Closer) {
	s.mu.Lock()
	delete(s.data, d)
	s.mu.Unlock()
	d.Close()
}

// serveData accepts the first connection on ln from peer, connects the
// other end with dial and copies between them.
func (s *ftpSession) serveData(ln *net.TCPListener, peer netip.Addr, dial func() (*net.TCPConn, error)) {
	p := s.c.p
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var a *net.TCPConn
		for range 16 {
			conn, err := ln.AcceptTCP()
			if err != nil {
				break
			}
			if ra, ok := conn.RemoteAddr().(*net.TCPAddr); ok && ra.AddrPort().Addr().Unmap() == peer {
				a = conn
				break
			}
			// Only the session's own peer may take its data connection.
			conn.SetLinger(0)
			conn.Close()
		}
		ln.Close()
		if !s.claim(ln) {
			// Replaced or ended meanwhile: its sockets went back then.
			if a != nil {
				a.SetLinger(0)
				a.Close()
			}
			return
		}
		defer p.budget.giveTCP()
		if a == nil {
			return
		}
		if !s.track(a) {
			a.Close()
			return
		}
		defer s.untrack(a)
		b, err := dial()
		if err != nil {
			p.warn("FTP data connection failed", "client", s.c.pkt.Src.String(), "error", err)
			a.SetLinger(0)
			return
		}
		if !s.track(b) {
			b.Close()
			return
		}
		defer s.untrack(b)
		// a is the accepting side: the client in passive mode, the real
		// server in active mode.
		fromClient := peer == s.c.pkt.Src.Addr()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			s.copyData(b, a, fromClient)
		}()
		s.copyData(a, b, !fromClient)
	}()
}

// copyData copies one direction of a data connection, splicing where it
// can, and half-closes dst at the end. in is the client-to-server
// direction.
func (s *ftpSession) copyData(dst, src *net.TCPConn, in bool) {
	c := s.c
	p := c.p
	lr := &io.LimitedReader{R: src}
	for {
		src.SetReadDeadline(time.Now().Add(max(c.tc.Timeout(), time.Second)))
		var n int64
		var eof bool
		var err error
		n, eof, err = p.copyChunk(dst, src, lr)
		if n > 0 {
			c.account(in, n, p.clk.now())
		}
		if err == nil && !eof {
			continue
		}
		if err == nil {
			dst.CloseWrite()
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && n > 0 {
			continue
		}
		dst.Close()
		src.Close()
		return
	}
}
