//go:build linux

package proxy

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A UDP service socket asks for a receive buffer far above the kernel's
// default, and gets it when the router may pass rmem_max.
func TestUDPServiceReceiveBuffer(t *testing.T) {
	lc := net.ListenConfig{Control: listenControl}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rc, _ := pc.(*net.UDPConn).SyscallConn()
	var got int
	rc.Control(func(fd uintptr) { got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	plain, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	rc, _ = plain.SyscallConn()
	var def int
	rc.Control(func(fd uintptr) { def, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	if os.Geteuid() == 0 && got < udpReceiveBuffer {
		t.Fatalf("receive buffer %d as root, want at least %d", got, udpReceiveBuffer)
	}
	if got < def {
		t.Fatalf("receive buffer %d, below the default %d", got, def)
	}
}

// What overflows a full receive buffer is counted, not lost silently.
func TestReceiveDropsCounted(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if d := receiveDrops(c); d != 0 {
		t.Fatalf("a fresh socket reports %d drops", d)
	}
	s, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const sent = 200
	for range sent {
		s.Write(make([]byte, 100))
	}
	queued := 0
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	b := make([]byte, 200)
	for {
		if _, err := c.Read(b); err != nil {
			break
		}
		queued++
	}
	d := receiveDrops(c)
	if d == 0 || queued+int(d) != sent {
		t.Fatalf("%d sent, %d queued, %d counted as dropped: want every datagram accounted for", sent, queued, d)
	}
}
