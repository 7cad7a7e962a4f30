package proxy

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/ftp"
	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/model"
)

// The classic FTP mark service: the control port and the real servers'
// passive range under one persistent mark.
var ftpBundle = model.PortRanges{{First: 21, Last: 21}, {First: 10000, Last: 20000}}

func ftpMark(name string, vip netip.Addr, ports model.PortRanges, servers ...model.RealServer) model.Service {
	return model.Service{Name: name, Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 21, FWMark: 21,
		MarkPorts: ports, Persistence: model.Persistence{Timeout: 300 * time.Second}, FTP: true,
		Scheduler: model.SchedRR, RealServers: servers}
}

// needPort21 skips unless the test may listen on port 21 of a.
func needPort21(t *testing.T, a netip.Addr) {
	t.Helper()
	l, err := net.Listen("tcp", ap(a, 21).String())
	if err != nil {
		t.Skipf("FTP mark service test: cannot listen on port 21 of %s: %v", a, err)
	}
	l.Close()
}

// lowerFileLimit lowers the process's soft descriptor limit to n for the
// rest of the test.
func lowerFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = min(n, old.Cur)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// rangePorts returns a passive port chooser for ftpServerPasv: a port in
// [lo, hi] free on every address given, each also sent on the channel so
// that the test knows what the real server announced.
func rangePorts(t *testing.T, lo, hi uint16, addrs ...netip.Addr) (func() uint16, chan uint16) {
	chosen := make(chan uint16, 16)
	return func() uint16 {
		for range 100 {
			p := lo + uint16(rand.IntN(int(hi-lo)+1))
			if testutil.PortFree(p, addrs...) {
				chosen <- p
				return p
			}
		}
		chosen <- 0
		return 0
	}, chosen
}

// ftpSamePassivePort starts a plane and an FTP real server on port 21 of
// each of rips, all announcing the one passive port it returns: a port of
// the bundle's range free on vip and on the real servers. It skips the
// test unless it may listen on port 21 of vip.
func ftpSamePassivePort(t *testing.T, vip netip.Addr, rips ...netip.Addr) (*env, uint16) {
	t.Helper()
	needPort21(t, vip)
	e := newEnv(t, Options{})
	pick, _ := rangePorts(t, 10000, 20000, append([]netip.Addr{vip}, rips...)...)
	port := pick()
	for i, r := range rips {
		ftpServerPasv(t, fmt.Sprint("rs", i+1), r, 21, func() uint16 { return port })
	}
	return e, port
}

// tcpListeners lists the plane's TCP listeners.
func tcpListeners(p *Plane) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id := range p.listeners {
		if id.proto == model.ProtoTCP {
			ids = append(ids, id.addr.String())
		}
	}
	slices.Sort(ids)
	return ids
}

// ftpClient is a client's control connection.
type ftpClient struct {
	t   *testing.T
	src netip.Addr
	*client
}

func ftpLogin(t *testing.T, src netip.Addr, dst netip.AddrPort) *ftpClient {
	t.Helper()
	c, err := dialFrom(src, dst)
	if err != nil {
		t.Fatalf("control connection from %s to %s: %v", src, dst, err)
	}
	t.Cleanup(func() { c.Close() })
	f := &ftpClient{t, src, c}
	f.expect("220 ready")
	return f
}

// expect reads a reply line that must start with prefix.
func (f *ftpClient) expect(prefix string) string {
	f.t.Helper()
	l, err := f.line()
	if err != nil || !strings.HasPrefix(l, prefix) {
		f.t.Fatalf("client %s: got %q (%v), want %s...", f.src, l, err, prefix)
	}
	return l
}

// passive sends PASV or EPSV and returns the endpoint the reply announces.
func (f *ftpClient) passive(cmd string, vip netip.Addr) netip.AddrPort {
	f.t.Helper()
	fmt.Fprintf(f, "%s\r\n", cmd)
	code := map[string]string{"PASV": "227 ", "EPSV": "229 "}[cmd]
	m, ok := ftp.ParseReply([]byte(f.expect(code) + "\n"))
	if !ok {
		f.t.Fatalf("client %s: %s reply not recognised", f.src, cmd)
	}
	if cmd == "EPSV" {
		return ap(vip, m.Addr.Port())
	}
	if m.Addr.Addr() != vip {
		f.t.Fatalf("client %s: PASV reply announces %s, want the VIP %s", f.src, m.Addr, vip)
	}
	return m.Addr
}

// data connects to the announced endpoint and returns the name of the real
// server that sent the data.
func (f *ftpClient) data(at netip.AddrPort) string {
	f.t.Helper()
	d, err := dialFrom(f.src, at)
	if err != nil {
		f.t.Fatalf("client %s: data connection to %s: %v", f.src, at, err)
	}
	b, err := io.ReadAll(d)
	d.Close()
	name, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "data from ")
	if err != nil || !ok {
		f.t.Fatalf("client %s: data %q %v", f.src, b, err)
	}
	f.expect("226 done")
	return name
}

// refused reports whether nothing listens at a any more.
func refused(a netip.AddrPort) bool {
	c, err := net.DialTimeout("tcp", a.String(), time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// An FTP mark service bundling 21 with the passive range 10000-20000, for
// IPv4 and IPv6, is served with two listeners, not 20,002, and so starts
// under a descriptor limit of 1024: the data port a passive reply
// announces is listened on when the reply passes, at that very port of the
// VIP, for the session's client only, and closed after its connection or
// with the session. Where the port is taken on the VIP, here by the IPv6
// real server itself, the reply announces a port the kernel picks instead;
// neither needs persistence.
func TestFTPPassiveRangeOnDemand(t *testing.T) {
	vip, v6 := ip("127.0.21.1"), ip("::1")
	rips := []netip.Addr{ip("127.0.21.11"), ip("127.0.21.12")}
	needPort21(t, vip)
	needPort21(t, v6)
	lowerFileLimit(t, 1024)
	e := newEnv(t, Options{Sockets: 64})
	pasv, chosen := rangePorts(t, 10000, 20000, append([]netip.Addr{vip}, rips...)...)
	for i, r := range rips {
		ftpServerPasv(t, fmt.Sprint("rs", i+1), r, 21, pasv)
	}
	port6 := testutil.FreePort(t, v6)
	pasv6, chosen6 := rangePorts(t, 10000, 20000, v6)
	ftpServerPasv(t, "rs6", v6, port6, pasv6)
	// ::1 is both the VIP and the real server, which therefore listens
	// on another port; a persistent mark service would keep port 21.
	ftp6 := ftpMark("ftp6", v6, ftpBundle, rs(v6, port6, 1))
	ftp6.Persistence = model.Persistence{}
	// A port of the range is the mark's, as in IPVS, even unlistened.
	inRange := model.Service{Name: "web", Active: true, Proto: model.ProtoTCP, VIP: vip, Port: 15555,
		Scheduler: model.SchedRR, RealServers: []model.RealServer{rs(rips[0], 0, 1)}}
	e.mustApply(&model.Config{Services: []model.Service{
		ftpMark("ftp", vip, ftpBundle, rs(rips[0], 0, 1), rs(rips[1], 0, 1)), ftp6, inRange,
	}})
	if got, want := tcpListeners(e.pl), []string{"127.0.21.1:21", "[::1]:21"}; !slices.Equal(got, want) {
		t.Fatalf("listening on %d ports %.80v, want %v", len(got), got, want)
	}

	src := ip("127.1.21.1")
	c := ftpLogin(t, src, ap(vip, 21))
	at := c.passive("PASV", vip)
	if p := <-chosen; at.Port() != p {
		t.Fatalf("PASV reply announces port %d, the real server %d", at.Port(), p)
	}
	// Another client cannot take the session's data connection.
	if s, err := dialFrom(ip("127.1.21.99"), at); err == nil {
		b, _ := io.ReadAll(s)
		s.Close()
		if len(b) > 0 {
			t.Errorf("a stranger read %q from the session's data port", b)
		}
	}
	owner := c.data(at)
	if !refused(at) {
		t.Errorf("data port %s still listened on after its connection", at)
	}
	at = c.passive("EPSV", vip)
	if p := <-chosen; at.Port() != p {
		t.Fatalf("EPSV reply announces port %d, the real server %d", at.Port(), p)
	}
	if got := c.data(at); got != owner {
		t.Errorf("data from %s and %s", owner, got)
	}
	// A pending data port closes with its session.
	at = c.passive("PASV", vip)
	<-chosen
	fmt.Fprintf(c, "QUIT\r\n")
	c.expect("221 bye")
	c.Close()
	testutil.WaitFor(t, 5*time.Second, "the pending data port to close with its session", func() bool { return refused(at) })

	c6 := ftpLogin(t, v6, ap(v6, 21))
	at = c6.passive("EPSV", v6)
	if p := <-chosen6; at.Port() == p {
		t.Fatalf("EPSV reply announces the real server's own port %d", p)
	}
	if got := c6.data(at); got != "rs6" {
		t.Errorf("IPv6 data from %s", got)
	}
	fmt.Fprintf(c6, "QUIT\r\n")
	c6.expect("221 bye")
	c6.Close()
	testutil.WaitFor(t, 5*time.Second, "the sockets to be given back", func() bool { return e.pl.Sockets().InUse == 0 })
}

// Two sessions whose real servers announce the same passive port: the
// first gets that port of the VIP, the second a port the kernel picks, and
// each data connection reaches its own session's real server.
func TestFTPPassivePortCollision(t *testing.T) {
	vip := ip("127.0.22.1")
	rips := []netip.Addr{ip("127.0.22.11"), ip("127.0.22.12")}
	e, port := ftpSamePassivePort(t, vip, rips...)
	e.mustApply(&model.Config{Services: []model.Service{
		ftpMark("ftp", vip, ftpBundle, rs(rips[0], 0, 1), rs(rips[1], 0, 1)),
	}})
	a := ftpLogin(t, ip("127.1.22.1"), ap(vip, 21))
	b := ftpLogin(t, ip("127.1.22.2"), ap(vip, 21))
	atA := a.passive("PASV", vip)
	atB := b.passive("EPSV", vip)
	if atA.Port() != port {
		t.Errorf("first session announced %d, want the real server's %d", atA.Port(), port)
	}
	if atB.Port() == port {
		t.Fatalf("second session announced the port the first one holds")
	}
	nameB := b.data(atB)
	nameA := a.data(atA)
	if nameA == nameB {
		t.Errorf("both sessions' data from %s; rr should have put them on two servers", nameA)
	}
}

// A passive port named alone in the bundle is listened on up front, as
// before: persistence takes the data connection to the same real server.
func TestFTPPassiveListedPort(t *testing.T) {
	vip := ip("127.0.23.1")
	rips := []netip.Addr{ip("127.0.23.11"), ip("127.0.23.12")}
	e, port := ftpSamePassivePort(t, vip, rips...)
	e.mustApply(&model.Config{Services: []model.Service{
		ftpMark("ftp", vip, model.PortRanges{{First: 21, Last: 21}, {First: port, Last: port}},
			rs(rips[0], 0, 1), rs(rips[1], 0, 1)),
	}})
	if got := tcpListeners(e.pl); len(got) != 2 {
		t.Fatalf("listening on %v, want 21 and %d", got, port)
	}
	for i := range 2 {
		c := ftpLogin(t, ip(fmt.Sprintf("127.1.23.%d", i+1)), ap(vip, 21))
		at := c.passive("PASV", vip)
		if at.Port() != port {
			t.Fatalf("PASV announces %d, want %d", at.Port(), port)
		}
		first := c.data(at)
		if got := c.data(c.passive("EPSV", vip)); got != first {
			t.Errorf("client %d: data from %s and %s", i, first, got)
		}
	}
}
