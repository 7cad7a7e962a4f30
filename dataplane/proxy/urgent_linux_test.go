package proxy

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// urgentPair proxies one connection of svc (VIP and port set) to a real
// server listening at rip, and returns the client's and the real server's
// ends.
func urgentPair(t *testing.T, svc model.Service, rip netip.Addr) (client, server *net.TCPConn) {
	t.Helper()
	e := newEnv(t, Options{})
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap(rip, svc.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	svc.RealServers = []model.RealServer{rs(rip, svc.Port, 1)}
	e.mustApply(&model.Config{Services: []model.Service{svc}})
	client, err = net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(ap(svc.VIP, svc.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = ln.AcceptTCP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// abor sends what an FTP client sends to abort a transfer: IAC IP, IAC
// with DM as urgent data, ABOR.
func abor(t *testing.T, c *net.TCPConn) {
	t.Helper()
	if _, err := c.Write([]byte{0xff, 0xf4, 0xff}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	sendOOB(t, c, 0xf2)
	if _, err := c.Write([]byte("ABOR\r\n")); err != nil {
		t.Fatal(err)
	}
}

// sendOOB sends b as TCP urgent data.
func sendOOB(t *testing.T, c *net.TCPConn, b byte) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), []byte{b}, unix.MSG_OOB, nil)
		return serr != unix.EAGAIN
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// readUrgent reads what c has (stopping at the urgent mark, as TCP reads
// do), then the urgent byte with MSG_OOB, then the rest: "normal|urgent|rest".
func readUrgent(t *testing.T, c *net.TCPConn) (before string, urgent byte, atMark bool, after string) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // everything has arrived
	_ = rc.Read(func(fd uintptr) bool {
		b := make([]byte, 100)
		n, _, _ := unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT)
		if n > 0 {
			before = string(b[:n])
		}
		m, _ := unix.IoctlGetInt(int(fd), unix.SIOCATMARK)
		atMark = m == 1
		o := make([]byte, 1)
		if k, _, err := unix.Recvfrom(int(fd), o, unix.MSG_OOB|unix.MSG_DONTWAIT); err == nil && k == 1 {
			urgent = o[0]
		}
		n, _, _ = unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT)
		if n > 0 {
			after = string(b[:n])
		}
		return true
	})
	return
}

// Urgent data passes as urgent data, at its place in the stream, as the
// kernel forwards a segment with its URG flag: FTP's ABOR comes after a
// Telnet Synch whose DM byte is urgent, and a proxy that drops it leaves
// the server reading a mangled command.
func TestUrgentDataPasses(t *testing.T) {
	if os.Getenv("GOVS_PROXY_GOROUTINES") != "" {
		t.Skip("urgent data passes on the Linux event loops; the goroutine path lacks it")
	}
	vip, rip := ip("127.0.17.1"), ip("127.0.17.11")
	client, server := urgentPair(t, model.Service{Name: "u", Active: true, Proto: model.ProtoTCP, VIP: vip,
		Port: testutil.FreePort(t, vip, rip), Scheduler: model.SchedRR}, rip)
	abor(t, client)
	before, urg, mark, after := readUrgent(t, server)
	if before != "\xff\xf4\xff" || !mark || urg != 0xf2 || after != "ABOR\r\n" {
		t.Errorf("the real server read %q, at mark %v, urgent %#x, then %q; want IAC IP IAC, the mark, DM, ABOR",
			before, mark, urg, after)
	}

	// And back.
	if _, err := server.Write([]byte("426 ")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	sendOOB(t, server, '!')
	if _, err := server.Write([]byte("aborted\r\n")); err != nil {
		t.Fatal(err)
	}
	before, urg, mark, after = readUrgent(t, client)
	if before != "426 " || !mark || urg != '!' || after != "aborted\r\n" {
		t.Errorf("the client read %q, at mark %v, urgent %q, then %q", before, mark, urg, after)
	}
}

// Through the FTP helper too, whose control connection is filtered (on
// either path): the client's ABOR, after IAC IP and the urgent IAC DM,
// reaches the real server intact, the DM urgent at its mark.
func TestUrgentDataPassesFTP(t *testing.T) {
	vip, rip := ip("127.0.17.2"), ip("127.0.17.12")
	client, server := urgentPair(t, model.Service{Name: "ftp", Active: true, Proto: model.ProtoTCP, VIP: vip,
		Port: testutil.FreePort(t, vip, rip), FTP: true, Scheduler: model.SchedRR}, rip)
	abor(t, client)
	before, urg, mark, after := readUrgent(t, server)
	if before != "\xff\xf4\xff" || !mark || urg != 0xf2 || after != "ABOR\r\n" {
		t.Errorf("the real server read %q, at mark %v, urgent %#x, then %q; want IAC IP IAC, the mark, DM, ABOR",
			before, mark, urg, after)
	}
}
