package testutil

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Listen listens on addr ("127.0.0.2:0" for a port the kernel picks,
// which is how a test should get one whenever it binds the port itself)
// and closes the listener when the test ends. It tries for up to a second
// before failing the test: a port closed a moment ago, as by a server
// taken down and brought back on the same address, may take that long to
// be free again.
func Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ln, err = net.Listen(network, addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ListenPacket is Listen for a datagram socket ("udp", "127.0.0.21:0").
func ListenPacket(t testing.TB, network, addr string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// Server accepts connections on a listener and serves each on a goroutine
// of its own, until it is closed.
type Server struct {
	ln     net.Listener
	handle func(net.Conn)
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Serve accepts connections on ln and calls handle with each, on a
// goroutine of its own; the connection is closed when handle returns.
// The server is closed when the test ends, if not before.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) *Server {
	s := &Server{ln: ln, handle: handle, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			s.handle(c)
		}()
	}
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close closes the listener and every connection still open, and waits
// for the handlers to return. It may be called more than once, and after
// Shutdown.
func (s *Server) Close() { s.stop(true) }

// Shutdown closes the listener, so that new connections are refused, and
// waits for the handlers in progress to return on their own: a
// connection being served when the server goes down is served to the end.
func (s *Server) Shutdown() { s.stop(false) }

func (s *Server) stop(conns bool) {
	s.mu.Lock()
	s.closed = true
	s.ln.Close()
	if conns {
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ServePacket calls answer with the payload of every datagram pc
// receives, one at a time, and with a reply function that sends a
// datagram back to where that one came from: answer may reply once, more
// than once, or not at all. It stops, and closes pc, when the test ends.
func ServePacket(t testing.TB, pc net.PacketConn, answer func(req []byte, reply func([]byte))) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			answer(buf[:n], func(b []byte) { _, _ = pc.WriteTo(b, from) })
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
}
