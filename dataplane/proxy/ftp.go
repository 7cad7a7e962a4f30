package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs/govs/ftp"
	"github.com/govs/govs/model"
)

// The FTP helper. A control connection of an FTP service (ftp = 1) is
// copied through the ftp package's filters instead of the splice pumps, so
// that the endpoints of data connections can be rewritten:
//
//   - Passive (227/229 replies): when the announced port is one of this
//     service's own listened ports on the VIP, the persistence template
//     holds the client and the real server's address is the control
//     connection's, only the address is rewritten to the VIP: the data
//     connection arrives on the bundle's listener and persistence sends it
//     to the same real server and port, exactly as IPVS does for a
//     persistent FTP mark service.
//   - Passive, at a port of the bundle's passive range (see ftpPassivePort),
//     which is not listened on up front: the helper listens on the VIP at
//     that very port for this session, so that the client connects where
//     the real server said, as with IPVS, and forwards the first connection
//     from the client's address to the endpoint the reply named, which is
//     what persistence would have chosen. Listening on the whole range
//     would cost a descriptor per port: 10,001 for the classic
//     21,10000-20000 bundle, before any client.
//   - Any other passive endpoint (no bundle, another address, or a range
//     port already taken on the VIP, by another session's pending listener
//     or anything else): a one-shot listener on the VIP at a port the
//     kernel picks, announced instead, forwarding in the same way.
//   - Active (PORT/EPRT commands): the helper opens a one-shot listener on
//     the router's address facing the real server, announces it to the
//     server, accepts the server's connection and connects to the client
//     from the VIP, at the port the client announced on the control
//     connection's client address (never elsewhere: no FTP bounce).
//
// A session has at most one pending data listener (a new PASV or PORT
// replaces it); listeners wait ftpAcceptTimeout. Data connections count
// their bytes, and keep the control connection from idling out, under the
// control connection's table entry; they end with it.
//
// A data listener and the data connection it leads to hold the two
// sockets of a TCP connection in the plane's budget (ftpdata.go). When the
// budget is spent, the helper refuses rather than pass an endpoint on
// unchanged: a passive reply becomes a 425 reply to the client, and an
// active command names port 0 of the router, where nothing can listen, so
// that the real server fails it and answers in its own words. Either way
// the control connection, and the order of its replies, are kept.

// ftpAcceptTimeout bounds how long a one-shot data listener waits.
const ftpAcceptTimeout = 60 * time.Second

// ftpControl reports whether a connection to port of s is an FTP control
// connection: port 21 of an FTP mark service, or the port of an FTP
// address service.
func ftpControl(s *model.Service, port uint16) bool {
	if s == nil || !s.FTP {
		return false
	}
	if s.FWMark != 0 {
		return port == 21
	}
	return port == s.Port
}

// ftpPassivePort reports whether port of s belongs to the passive range of
// an FTP mark service's bundle, which is listened on only when a passive
// reply announces a port of it: every port that fwmark_ports gives as part
// of a range (10000-20000), except the control port 21. Ranges are what
// real servers' pasv_min_port and pasv_max_port make; a port named alone
// is listened on up front like any other bundled port, since a bundle may
// carry other traffic beside FTP (21,80,10000-20000), and a passive port
// named alone is still served through persistence.
func ftpPassivePort(s *model.Service, port uint16) bool {
	if s == nil || !s.FTP || s.FWMark == 0 || port == 21 {
		return false
	}
	for _, r := range s.MarkPorts {
		if r.First < r.Last && r.Contains(port) {
			return true
		}
	}
	return false
}

// ftpSession is one proxied FTP control connection and its data
// connections.
type ftpSession struct {
	c   *tcpConn
	l   *listener
	vip netip.Addr

	mu      sync.Mutex
	pending *net.TCPListener   // the data listener waiting, if any
	data    map[io.Closer]bool // open data sockets
	closed  bool
	pumps   atomic.Int32
}

// serveFTP copies an established FTP control connection through the ftp
// filters until both directions end. It runs on handleTCP's goroutine.
func (p *Plane) serveFTP(c *tcpConn, l *listener) {
	s := &ftpSession{c: c, l: l, vip: l.id.addr.Addr(), data: map[io.Closer]bool{}}
	toServer, toClient := ftp.NewPair(s.active, s.passive)
	sc := c.server.Load()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		s.pump(sc, c.client, toServer, true)
	}()
	s.pump(c.client, sc, toClient, false)
}

// pump copies src to dst through f. in is the client-to-server direction.
func (s *ftpSession) pump(dst, src *net.TCPConn, f *ftp.Filter, in bool) {
	c := s.c
	defer func() {
		if s.pumps.Add(1) == 2 {
			s.close()
		}
	}()
	buf := make([]byte, 4096)
	var out []byte
	// The client's ABOR follows a Telnet Synch whose DM byte is urgent
	// data: inline, it is never lost, and at its mark it goes on as
	// urgent data, after what came before it.
	inline := urgentInline(src) == nil
	for {
		src.SetReadDeadline(time.Now().Add(max(c.tc.Timeout(), time.Second)))
		var (
			n      int
			err    error
			urgent bool
		)
		if inline {
			n, urgent, err = readMarked(src, buf)
		} else {
			n, err = src.Read(buf)
		}
		if urgent {
			if out = f.Flush(out[:0]); len(out) > 0 {
				if _, werr := dst.Write(out); werr != nil {
					c.finish(dst, false)
					return
				}
			}
			c.account(in, 1, c.p.clk.now())
			if err := sendUrgent(dst, buf[0]); err != nil {
				c.finish(dst, false)
				return
			}
			continue
		}
		if n > 0 {
			c.account(in, int64(n), c.p.clk.now())
			out = f.Feed(out[:0], buf[:n])
			if len(out) > 0 {
				if _, werr := dst.Write(out); werr != nil {
					c.finish(dst, false)
					return
				}
			}
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			if out = f.Flush(out[:0]); len(out) > 0 {
				dst.Write(out)
			}
			c.finish(dst, true)
			return
		case errors.Is(err, os.ErrDeadlineExceeded) && !c.idle() && !c.p.forced.Load():
			// Woken by the other direction, or traffic elsewhere (a data
			// connection) kept the session alive.
			continue
		}
		c.finish(dst, false)
		return
	}
}

// passive rewrites a 227 or 229 reply of the real server.
func (s *ftpSession) passive(m ftp.Match) (netip.AddrPort, bool) {
	c := s.c
	target := c.tc.Target
	addr := m.Addr.Addr().Unmap()
	if m.Kind == ftp.EPSV || !addr.IsValid() || addr.IsUnspecified() {
		addr = target.Addr()
	}
	port := m.Addr.Port()
	if m.Kind == ftp.PASV && !s.vip.Is4() {
		// A 227 reply cannot name an IPv6 VIP, and passed on it would
		// name the real server; an IPv6 client has EPSV.
		return netip.AddrPort{}, true
	}
	if c.tc.Persistent() && addr == target.Addr() && s.bundled(port) {
		return netip.AddrPortFrom(s.vip, port), true
	}
	var at uint16
	if ftpPassivePort(c.tc.Service().Config(), port) {
		at = port
	}
	ln, err := s.listenData(s.vip, at)
	if err != nil {
		c.p.warn("FTP passive data connection refused", "client", c.pkt.Src.String(), "error", err)
		return netip.AddrPort{}, true
	}
	to := netip.AddrPortFrom(addr, port)
	s.serveData(ln, c.pkt.Src.Addr(), func() (*net.TCPConn, error) { return c.p.dialTCP(to) })
	return netip.MustParseAddrPort(ln.Addr().String()), true
}

// active rewrites a PORT or EPRT command of the client.
func (s *ftpSession) active(m ftp.Match) (netip.AddrPort, bool) {
	c := s.c
	sc := c.server.Load()
	la, _ := sc.LocalAddr().(*net.TCPAddr)
	if la == nil {
		return netip.AddrPort{}, false
	}
	local := la.AddrPort().Addr().Unmap()
	ln, err := s.listenData(local, 0)
	if err != nil {
		c.p.warn("FTP active data connection refused", "client", c.pkt.Src.String(), "error", err)
		return netip.AddrPortFrom(local, 0), true
	}
	to := netip.AddrPortFrom(c.pkt.Src.Addr(), m.Addr.Port())
	from := &net.TCPAddr{IP: s.vip.AsSlice()}
	s.serveData(ln, c.tc.Target.Addr(), func() (*net.TCPConn, error) {
		d := c.p.dialer
		d.LocalAddr = from
		conn, err := d.DialContext(c.p.dialCtx, "tcp", to.String())
		if err != nil {
			return nil, err
		}
		return conn.(*net.TCPConn), nil
	})
	return netip.MustParseAddrPort(ln.Addr().String()), true
}

// bundled reports whether the VIP's TCP port is served by the control
// connection's service, so that persistence takes a data connection there.
func (s *ftpSession) bundled(port uint16) bool {
	p := s.c.p
	want := *s.l.svc.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.listeners[lkey{model.ProtoTCP, netip.AddrPortFrom(s.vip, port)}]
	return l != nil && *l.svc.Load() == want
}
