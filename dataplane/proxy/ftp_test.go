package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs/govs/ftp"
	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// ftpServer is a minimal FTP server: PASV, EPSV and PORT each open one data
// connection that carries "data from NAME\n"; it checks that a PORT names
// the address the control connection came from, as vsftpd does, and
// answers 425 when it cannot connect there. Its passive data listeners are
// on ports the kernel picks.
func ftpServer(t *testing.T, name string, a netip.Addr, port uint16) {
	t.Helper()
	ftpServerPasv(t, name, a, port, nil)
}

// ftpServerPasv is ftpServer with the passive data ports chosen by pasv,
// as vsftpd's pasv_min_port and pasv_max_port do; a nil pasv leaves them to
// the kernel.
func ftpServerPasv(t *testing.T, name string, a netip.Addr, port uint16, pasv func() uint16) {
	t.Helper()
	testutil.Serve(t, testutil.Listen(t, "tcp", ap(a, port).String()), func(c net.Conn) { ftpServe(c, name, a, pasv) })
}

func ftpServe(c net.Conn, name string, a netip.Addr, pasv func() uint16) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	// The greeting arrives in pieces, as replies may.
	c.Write([]byte("220 rea"))
	time.Sleep(10 * time.Millisecond)
	c.Write([]byte("dy\r\n"))
	peer := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	var mu sync.Mutex // the data goroutine writes 226 replies too
	reply := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(c, format, args...)
		mu.Unlock()
	}
	send := func(d net.Conn) {
		fmt.Fprintf(d, "data from %s\n", name)
		d.Close()
		reply("226 done\r\n")
	}
	// The passive data listener waits beside the command loop, as a real
	// server's does: a client may never connect, or ask again.
	var dl net.Listener
	var wg sync.WaitGroup
	defer func() {
		if dl != nil {
			dl.Close()
		}
		wg.Wait()
	}()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSpace(line)
		switch {
		case cmd == "PASV" || cmd == "EPSV":
			if dl != nil {
				dl.Close()
			}
			var dp uint16
			if pasv != nil {
				dp = pasv()
			}
			dl, err = net.Listen("tcp", ap(a, dp).String())
			if err != nil {
				return
			}
			p := dl.Addr().(*net.TCPAddr).Port
			if cmd == "PASV" {
				b := a.As4()
				// Split inside the numbers to exercise reassembly.
				reply("227 Entering Passive Mode (%d,%d,%d,", b[0], b[1], b[2])
				time.Sleep(10 * time.Millisecond)
				reply("%d,%d,%d).\r\n", b[3], p>>8, p&255)
			} else {
				reply("229 Entering Extended Passive Mode (|||%d|)\n", p)
			}
			wg.Add(1)
			go func(dl net.Listener) {
				defer wg.Done()
				d, err := dl.Accept()
				dl.Close()
				if err == nil {
					send(d)
				}
			}(dl)
		case strings.HasPrefix(cmd, "PORT "):
			m, ok := ftp.ParseCommand([]byte(line))
			if !ok || m.Addr.Addr() != peer {
				reply("500 Illegal PORT %s from %s\r\n", m.Addr, peer)
				continue
			}
			reply("200 PORT command successful\r\n")
			// From its own address, as vsftpd binds its data socket to
			// the control connection's local address.
			dd := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(ap(a, 0))}
			d, err := dd.Dial("tcp", m.Addr.String())
			if err != nil {
				reply("425 Can't open data connection.\r\n")
				continue
			}
			send(d)
		case cmd == "QUIT":
			reply("221 bye\r\n")
			return
		default:
			reply("200 %s\r\n", cmd)
		}
	}
}

// The FTP helper rewrites PASV, EPSV and PORT so that data connections go
// through the VIP (passive) and from the VIP (active), to and from the real
// server that has the control connection; other lines pass unchanged.
func TestFTPHelper(t *testing.T) {
	e := newEnv(t, Options{})
	vip := ip("127.0.20.1")
	rips := []netip.Addr{ip("127.0.20.11"), ip("127.0.20.12")}
	port := testutil.FreePort(t, append([]netip.Addr{vip}, rips...)...)
	var servers []model.RealServer
	for i, r := range rips {
		ftpServer(t, fmt.Sprint("rs", i+1), r, port)
		servers = append(servers, rs(r, 0, 1))
	}
	e.mustApply(&model.Config{Services: []model.Service{{Name: "ftp", Active: true, Proto: model.ProtoTCP,
		VIP: vip, Port: port, FTP: true, Scheduler: model.SchedRR, RealServers: servers}}})

	for i := range 4 {
		src := ip(fmt.Sprintf("127.1.0.%d", i+1))
		c, err := dialFrom(src, ap(vip, port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		expect := func(prefix string) string {
			t.Helper()
			l, err := c.line()
			if err != nil || !strings.HasPrefix(l, prefix) {
				t.Fatalf("client %s: got %q (%v), want %s...", src, l, err, prefix)
			}
			return l
		}
		expect("220 ready\r")
		fmt.Fprintf(c, "USER anonymous\r\n")
		expect("200 USER anonymous\r")
		var owner string
		data := func(d net.Conn) {
			t.Helper()
			d.SetDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(d)
			d.Close()
			name, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "data from ")
			if err != nil || !ok {
				t.Fatalf("client %s: data %q %v", src, b, err)
			}
			if owner == "" {
				owner = name
			} else if name != owner {
				t.Fatalf("client %s: data from %s and %s", src, owner, name)
			}
			expect("226 done")
		}

		fmt.Fprintf(c, "PASV\r\n")
		m, ok := ftp.ParseReply([]byte(expect("227 ") + "\n"))
		if !ok || m.Addr.Addr() != vip {
			t.Fatalf("PASV reply announces %v, want the VIP", m.Addr)
		}
		d, err := dialFrom(src, m.Addr)
		if err != nil {
			t.Fatal(err)
		}
		data(d)

		fmt.Fprintf(c, "EPSV\r\n")
		m, ok = ftp.ParseReply([]byte(expect("229 ") + "\n"))
		if !ok {
			t.Fatal("EPSV reply not recognised")
		}
		d, err = dialFrom(src, ap(vip, m.Addr.Port()))
		if err != nil {
			t.Fatal(err)
		}
		data(d)

		al, err := net.Listen("tcp", ap(src, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		p := al.Addr().(*net.TCPAddr).Port
		b := src.As4()
		fmt.Fprintf(c, "PORT %d,%d,%d,%d,%d,%d\r\n", b[0], b[1], b[2], b[3], p>>8, p&255)
		expect("200 PORT command successful")
		al.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		d2, err := al.Accept()
		al.Close()
		if err != nil {
			t.Fatalf("client %s: no active data connection: %v", src, err)
		}
		if from := d2.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); from != vip {
			t.Errorf("active data connection from %s, want the VIP", from)
		}
		data(d2)

		fmt.Fprintf(c, "QUIT\r\n")
		expect("221 bye")
	}
}

// Data listeners and data connections hold sockets of the plane's budget.
// When it is spent, a passive reply becomes a 425 reply to the client and
// an active command names a port nothing can listen on, so that the real
// server refuses it in its own words; the control connection goes on.
// A pending data listener that a new PASV replaces gives its sockets back
// at once.
func TestFTPDataBudget(t *testing.T) {
	rip := ip("127.0.24.11")
	src := ip("127.1.24.1")
	// login serves an FTP service on vip and logs in.
	login := func(e *env, vip netip.Addr) (*client, uint16) {
		t.Helper()
		port := testutil.FreePort(t, vip, rip)
		ftpServer(t, "rs1", rip, port)
		e.mustApply(&model.Config{Services: []model.Service{{Name: "ftp", Active: true, Proto: model.ProtoTCP,
			VIP: vip, Port: port, FTP: true, Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rip, 0, 1)}}}})
		c, err := dialFrom(src, ap(vip, port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if l, err := c.line(); l != "220 ready\r" {
			t.Fatalf("greeting %q %v", l, err)
		}
		return c, port
	}
	expect := func(c *client, want string) string {
		t.Helper()
		l, err := c.line()
		if err != nil || !strings.HasPrefix(l, want) {
			t.Fatalf("got %q (%v), want %s...", l, err, want)
		}
		return l
	}

	// Room for the control connection only (three quarters of 4 for TCP).
	e := newEnv(t, Options{Sockets: 4})
	c, _ := login(e, ip("127.0.24.1"))
	fmt.Fprintf(c, "PASV\r\n")
	expect(c, "425 Can't open data connection.\r")
	fmt.Fprintf(c, "EPSV\r\n")
	expect(c, "425 Can't open data connection.")
	b := src.As4()
	fmt.Fprintf(c, "PORT %d,%d,%d,%d,%d,%d\r\n", b[0], b[1], b[2], b[3], 40000>>8, 40000&255)
	expect(c, "200 PORT command successful")
	expect(c, "425 Can't open data connection.")
	if s := e.pl.Sockets(); s.RefusedTCP != 3 || s.InUse != 2 {
		t.Errorf("sockets %+v, want 3 refused and the control connection's 2 in use", s)
	}
	fmt.Fprintf(c, "QUIT\r\n")
	expect(c, "221 bye")

	// Room for the control connection and one data connection.
	e = newEnv(t, Options{Sockets: 6})
	vip := ip("127.0.24.2")
	c, _ = login(e, vip)
	for range 3 {
		fmt.Fprintf(c, "PASV\r\n")
		expect(c, "227 ")
	}
	fmt.Fprintf(c, "EPSV\r\n")
	m, ok := ftp.ParseReply([]byte(expect(c, "229 ") + "\n"))
	if !ok {
		t.Fatal("EPSV reply not recognised")
	}
	d, err := dialFrom(src, ap(vip, m.Addr.Port()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d)
	d.Close()
	if string(got) != "data from rs1\n" || err != nil {
		t.Fatalf("data %q %v", got, err)
	}
	expect(c, "226 done")
	if s := e.pl.Sockets(); s.RefusedTCP != 0 {
		t.Errorf("sockets %+v: a replaced data listener kept its sockets", s)
	}
}
