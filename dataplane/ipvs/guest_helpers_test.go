//go:build linux

package ipvs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/govs/govs/internal/testutil"
	"github.com/govs/govs/internal/testutil/reload"
	"github.com/govs/govs/model"
	"github.com/govs/govs/scheduler"
	"github.com/govs/govs/table"
)

// The guest suite runs inside the qemu guest that scripts/ipvs-vm/run.sh
// boots, whose init sets GOVS_IPVS_GUEST=1. The guest's root network
// namespace is the router; namespaces made here are the client and the
// real servers:
//
//	client "cl" c0 203.0.113.2/24 2001:db8:ff::2/64
//	   |  veth
//	router: rc 203.0.113.1/24 2001:db8:ff::1/64, VIPs 192.0.2.x and 2001:db8::10 on lo,
//	   |    bridge brs 198.51.100.1/24 2001:db8:1::1/64
//	real servers rs1..rs3: e0 198.51.100.11..13/24 2001:db8:1::11..13/64,
//	   the DR VIP on lo and the TUN VIP on tunl0 (RealServerSetup).

const (
	helperEnv = "GOVS_IPVS_HELPER"
	guestEnv  = "GOVS_IPVS_GUEST"
)

// The guest's addresses besides the unit tests' (plane_test.go).
var (
	vipTUN = netip.MustParseAddr("192.0.2.30")
	vipFTP = netip.MustParseAddr("192.0.2.41")
	gRS    = []netip.Addr{rs1, rs2, rs3}
	gRS6   = []netip.Addr{rs6, netip.MustParseAddr("2001:db8:1::12"), netip.MustParseAddr("2001:db8:1::13")}
)

// TestMain serves the helper roles the suite re-executes this binary for
// inside a namespace: a real server, or a real server's setup.
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "serve":
		serveHelper()
		return
	case "setup":
		setupHelper()
		return
	}
	os.Exit(m.Run())
}

func requireGuest(t *testing.T) {
	t.Helper()
	if os.Getenv(guestEnv) != "1" {
		t.Skip("runs inside the qemu guest of scripts/ipvs-vm/run.sh (which sets GOVS_IPVS_GUEST=1)")
	}
}

// serveHelper is a real server: on every TCP port of GOVS_IPVS_TCP it
// greets with its name and echoes lines; on every UDP port of
// GOVS_IPVS_UDP it answers a datagram with its name; on GOVS_IPVS_HTTP it
// serves its name over HTTP. It prints "ready" once listening and runs
// until killed (or for at most ten minutes).
func serveHelper() {
	name := os.Getenv("GOVS_IPVS_NAME")
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for _, p := range strings.Fields(os.Getenv("GOVS_IPVS_TCP")) {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fail(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					fmt.Fprintf(c, "%s\n", name)
					_, _ = io.Copy(c, c)
				}()
			}
		}()
	}
	for _, p := range strings.Fields(os.Getenv("GOVS_IPVS_UDP")) {
		pc, err := net.ListenPacket("udp4", ":"+p)
		if err != nil {
			fail(err)
		}
		// Answer from the address the datagram was sent to, as a DNS
		// server does: for a direct-routing VIP held on lo, the route's
		// source address would not be the one the client expects.
		pc4 := ipv4.NewPacketConn(pc)
		if err := pc4.SetControlMessage(ipv4.FlagDst, true); err != nil {
			fail(err)
		}
		go func() {
			buf := make([]byte, 1500)
			for {
				_, cm, from, err := pc4.ReadFrom(buf)
				if err != nil {
					return
				}
				var reply *ipv4.ControlMessage
				if cm != nil {
					reply = &ipv4.ControlMessage{Src: cm.Dst}
				}
				_, _ = pc4.WriteTo([]byte(name+"\n"), reply, from)
			}
		}()
	}
	if p := os.Getenv("GOVS_IPVS_HTTP"); p != "" {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fail(err)
		}
		go func() {
			_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s\n", name)
			}))
		}()
	}
	fmt.Println("ready")
	time.Sleep(10 * time.Minute)
}

// setupHelper applies RealServerSetup(GOVS_IPVS_MODE, GOVS_IPVS_VIP) in
// its own network namespace, as `govs realserver setup --apply` would.
func setupHelper() {
	mode, err := model.ParseForward(os.Getenv("GOVS_IPVS_MODE"))
	if err == nil {
		var steps []Step
		if steps, err = RealServerSetup(mode, netip.MustParseAddr(os.Getenv("GOVS_IPVS_VIP"))); err == nil {
			err = Apply(steps)
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

// run runs a command with a bounded time and returns its combined output.
func run(args ...string) (string, error) { return runFor(60*time.Second, args...) }

// runFor is run with a bound of its own, for the benchmark's bulk loads,
// which under emulation on a busy host take minutes.
func runFor(d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inNS runs fn on a thread of its own moved into network namespace ns
// ("" stays in the router's). Sockets fn opens belong to ns and may be used
// from anywhere afterwards. The thread is discarded afterwards, never
// returned to the scheduler in the wrong namespace.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if ns != "" {
			f, err := os.Open("/run/netns/" + ns)
			if err != nil {
				errc <- err
				return
			}
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
			if err != nil {
				errc <- fmt.Errorf("setns %s: %w", ns, err)
				return
			}
		}
		errc <- fn()
	}()
	return <-errc
}

// startIn starts this binary in namespace ns as a helper and waits for its
// first line of output, which it returns.
func startIn(ns string, env ...string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	// Forking on a thread inside ns puts the child there.
	if err := inNS(ns, cmd.Start); err != nil {
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		return cmd, l, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, "", fmt.Errorf("helper in %s did not start", ns)
	}
}

var (
	topoOnce sync.Once
	topoErr  error
)

// topology builds the guest's network once for the whole suite; the guest
// is discarded afterwards, which removes it.
func topology(t *testing.T) {
	t.Helper()
	requireGuest(t)
	topoOnce.Do(func() { topoErr = buildTopology() })
	if topoErr != nil {
		t.Fatal(topoErr)
	}
}

func writeSys(path, v string) error { return os.WriteFile(path, []byte(v+"\n"), 0o644) }

func buildTopology() error {
	cmds := [][]string{
		{"ip", "netns", "add", "cl"},
		{"ip", "link", "add", "rc", "type", "veth", "peer", "name", "c0", "netns", "cl"},
		{"ip", "addr", "add", "203.0.113.1/24", "dev", "rc"},
		{"ip", "addr", "add", "2001:db8:ff::1/64", "dev", "rc", "nodad"},
		{"ip", "link", "set", "rc", "up"},
		{"ip", "-n", "cl", "link", "set", "lo", "up"},
		{"ip", "-n", "cl", "addr", "add", "203.0.113.2/24", "dev", "c0"},
		{"ip", "-n", "cl", "addr", "add", "2001:db8:ff::2/64", "dev", "c0", "nodad"},
		{"ip", "-n", "cl", "link", "set", "c0", "up"},
		{"ip", "-n", "cl", "route", "add", "default", "via", "203.0.113.1"},
		{"ip", "-n", "cl", "-6", "route", "add", "default", "via", "2001:db8:ff::1"},
		{"ip", "link", "add", "brs", "type", "bridge"},
		{"ip", "addr", "add", "198.51.100.1/24", "dev", "brs"},
		{"ip", "addr", "add", "2001:db8:1::1/64", "dev", "brs", "nodad"},
		{"ip", "link", "set", "brs", "up"},
	}
	for _, v := range []netip.Addr{vipNAT, vipDR, vipTUN, vipMark, vipFTP} {
		cmds = append(cmds, []string{"ip", "addr", "add", v.String() + "/32", "dev", "lo"})
	}
	cmds = append(cmds, []string{"ip", "addr", "add", vip6.String() + "/128", "dev", "lo"})
	for i := range gRS {
		ns, ifn := fmt.Sprintf("rs%d", i+1), fmt.Sprintf("r%d", i+1)
		cmds = append(cmds,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", ifn, "type", "veth", "peer", "name", "e0", "netns", ns},
			[]string{"ip", "link", "set", ifn, "master", "brs"},
			[]string{"ip", "link", "set", ifn, "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", ns, "addr", "add", gRS[i].String() + "/24", "dev", "e0"},
			[]string{"ip", "-n", ns, "addr", "add", gRS6[i].String() + "/64", "dev", "e0", "nodad"},
			[]string{"ip", "-n", ns, "link", "set", "e0", "up"},
			[]string{"ip", "-n", ns, "route", "add", "default", "via", "198.51.100.1"},
			[]string{"ip", "-n", ns, "-6", "route", "add", "default", "via", "2001:db8:1::1"})
	}
	for _, c := range cmds {
		if _, err := run(c...); err != nil {
			return err
		}
	}
	// The router forwards, and accepts the direct-routing and tunnelled
	// real servers' replies, whose source is a VIP it holds itself.
	for path, v := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                   "1",
		"/proc/sys/net/ipv6/conf/all/forwarding":          "1",
		"/proc/sys/net/ipv4/conf/all/accept_local":        "1",
		"/proc/sys/net/ipv4/conf/brs/accept_local":        "1",
		"/proc/sys/net/ipv4/conf/all/rp_filter":           "0",
		"/proc/sys/net/ipv4/conf/brs/rp_filter":           "0",
		"/proc/sys/net/ipv4/conf/default/rp_filter":       "0",
		"/proc/sys/net/ipv4/conf/rc/rp_filter":            "0",
		"/proc/sys/net/ipv4/vs/expire_nodest_conn":        "0",
		"/proc/sys/net/ipv4/conf/brs/send_redirects":      "0",
		"/proc/sys/net/ipv4/conf/all/send_redirects":      "0",
		"/proc/sys/net/ipv6/conf/brs/accept_dad":          "0",
		"/proc/sys/net/ipv4/vs/expire_quiescent_template": "0",
	} {
		if err := writeSys(path, v); err != nil {
			return err
		}
	}
	for i := range gRS {
		ns := fmt.Sprintf("rs%d", i+1)
		for _, s := range []struct {
			mode string
			vip  netip.Addr
		}{{"direct", vipDR}, {"tunnel", vipTUN}} {
			cmd, line, err := startIn(ns, helperEnv+"=setup", "GOVS_IPVS_MODE="+s.mode, "GOVS_IPVS_VIP="+s.vip.String())
			if err != nil {
				return err
			}
			_ = cmd.Wait()
			if line != "ok" {
				return fmt.Errorf("real server setup in %s: %s", ns, line)
			}
		}
		_, line, err := startIn(ns, helperEnv+"=serve", "GOVS_IPVS_NAME="+ns,
			"GOVS_IPVS_TCP=80 443 8080 21", "GOVS_IPVS_UDP=53", "GOVS_IPVS_HTTP=8000")
		if err != nil {
			return err
		}
		if line != "ready" {
			return fmt.Errorf("real server %s: %s", ns, line)
		}
	}
	// Neighbours are resolved once here, so the first test's first
	// connection does not pay for ARP under software emulation.
	for _, a := range gRS {
		_, _ = run("ping", "-c", "1", "-W", "2", a.String())
	}
	return nil
}

// greet connects from the client to addr and returns the real server's
// greeting (its name) and the open connection.
func greet(addr string) (string, net.Conn, error) {
	var c net.Conn
	err := inNS("cl", func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 3*time.Second)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return "", nil, fmt.Errorf("%s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return strings.TrimSpace(line), c, nil
}

// name connects, reads the greeting and closes.
func name(addr string) (string, error) {
	n, c, err := greet(addr)
	if err == nil {
		c.Close()
	}
	return n, err
}

// echo checks that an open connection still carries data both ways.
func echo(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping\n" {
		return fmt.Errorf("echo %q", buf)
	}
	return nil
}

func udpName(addr string) (string, error) { return udpNameFrom("", addr) }

// udpNameFrom is udpName from the client address src ("" for any).
func udpNameFrom(src, addr string) (string, error) {
	var out string
	err := inNS("cl", func() error {
		d := net.Dialer{}
		if src != "" {
			d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(src)}
		}
		c, err := d.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 100)
		for range 3 {
			if _, err := c.Write([]byte("who\n")); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			if err == nil {
				out = strings.TrimSpace(string(buf[:n]))
				return nil
			}
		}
		return errors.New("no UDP answer from " + addr)
	})
	return out, err
}

func httpName(url string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNS("cl", func() error {
				var err error
				c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// guestPlane is a plane on the guest's kernel with its table.
type guestPlane struct {
	t   *testing.T
	tb  *table.Table
	p   *Plane
	log *testutil.Buffer // the plane's log
}

func newGuestPlane(t *testing.T, o Options) *guestPlane {
	t.Helper()
	g := &guestPlane{t: t, tb: table.New(table.Options{NewScheduler: scheduler.New}), log: &testutil.Buffer{}}
	o.Logger = slog.New(slog.NewTextHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.StateFile == "" {
		o.StateFile = t.TempDir() + "/state.json"
	}
	if o.RepairInterval == 0 {
		o.RepairInterval = -1
	}
	if o.StatsInterval == 0 {
		o.StatsInterval = -1
	}
	p, err := New(g.tb, o)
	if err != nil {
		t.Fatal(err)
	}
	g.p = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("plane log:\n%s", g.log.String())
		}
	})
	return g
}

func (g *guestPlane) apply(cfg *model.Config) {
	g.t.Helper()
	if err := g.tryApply(cfg); err != nil {
		g.t.Fatal(err)
	}
}

func (g *guestPlane) tryApply(cfg *model.Config) error { return reload.Apply(g.p, g.tb, cfg) }

// ipvsadmList is `ipvsadm -L -n` without its title line.
func ipvsadmList(t *testing.T) string {
	t.Helper()
	out := mustRun(t, "ipvsadm", "-L", "-n")
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		return out[i+1:]
	}
	return out
}
