//go:build linux

// Package e2e tests the govs binary as a user meets it: a real process with
// its command line, control socket and signals, real sockets, and real
// clients (curl) in network namespaces.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govs/govs/internal/testutil"
)

// The test binary doubles as the real servers and clients that run inside
// network namespaces: GOVS_E2E_ROLE selects the role.
func TestMain(m *testing.M) {
	switch os.Getenv("GOVS_E2E_ROLE") {
	case "":
	case "http":
		serveHTTP(os.Getenv("GOVS_E2E_NAME"), strings.Split(os.Getenv("GOVS_E2E_LISTEN"), ","))
		return
	case "udp":
		serveUDP(os.Getenv("GOVS_E2E_NAME"), strings.Split(os.Getenv("GOVS_E2E_LISTEN"), ","))
		return
	case "udpask":
		os.Exit(udpAsk(os.Getenv("GOVS_E2E_TARGET"), os.Getenv("GOVS_E2E_SOURCE")))
	case "probe":
		os.Exit(probe(os.Getenv("GOVS_E2E_TARGET"), os.Getenv("GOVS_E2E_WANT")))
	case "clients":
		os.Exit(clients())
	case "synflood":
		os.Exit(synflood())
	case "udpflood":
		os.Exit(udpflood())
	default:
		fmt.Fprintln(os.Stderr, "unknown GOVS_E2E_ROLE")
		os.Exit(2)
	}
	code := func() int {
		if runtime.GOOS != "linux" {
			// The suite itself skips; nothing to build.
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "govs-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		govsBin = filepath.Join(dir, "govs")
		build := exec.Command("go", "build", "-o", govsBin, "../../cmd/govs")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building govs: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

var govsBin string

// handler answers "NAME PORT" with the port it was reached on; /from
// answers "NAME CLIENT" with the connecting address; /stream?n=N sends N
// lines 100 ms apart, a long-lived connection for drain tests.
func handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, port, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
		if r.URL.Path == "/from" {
			// Who connected: behind a proxying router, the router's address.
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintf(w, "%s %s\n", name, host)
			return
		}
		if r.URL.Path == "/stream" {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			for i := range n {
				fmt.Fprintf(w, "%s %s line %d\n", name, port, i)
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		fmt.Fprintf(w, "%s %s\n", name, port)
	})
}

func serveHTTP(name string, addrs []string) {
	serveAll(addrs, func(a string) (func(), error) {
		ln, err := net.Listen("tcp", a)
		return func() { _ = http.Serve(ln, handler(name)) }, err
	})
}

// serveAll is a helper process's serving: it listens on every address
// (a failure ends the process), tells the test it is ready, and serves
// each listener on a goroutine of its own until it is killed.
func serveAll(addrs []string, listen func(addr string) (serve func(), err error)) {
	var wg sync.WaitGroup
	for _, a := range addrs {
		serve, err := listen(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve()
		}()
	}
	ready()
	wg.Wait()
}

// ready tells the test that started this helper that it listens, by
// creating the file GOVS_E2E_READY names.
func ready() {
	if p := os.Getenv("GOVS_E2E_READY"); p != "" {
		_ = os.WriteFile(p, nil, 0o600)
	}
}

// waitReady waits, boundedly, for helpers to create their ready files.
func waitReady(t *testing.T, files ...string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("helper did not get ready (%s)", f)
			}
		}
		return nil
	})
}

func serveUDP(name string, addrs []string) {
	serveAll(addrs, func(a string) (func(), error) {
		pc, err := net.ListenPacket("udp", a)
		return func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo([]byte(name+" "+string(buf[:n])), from)
			}
		}, err
	})
}

func udpAsk(target, source string) int {
	var laddr *net.UDPAddr
	if source != "" {
		laddr = &net.UDPAddr{IP: net.ParseIP(source)}
	}
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for range 5 { // UDP may lose the first datagram while neighbours resolve
		if _, err := c.Write([]byte("ping")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			fmt.Println(string(buf[:n]))
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "no UDP reply from", target)
	return 1
}

// govs runs the binary to completion and returns stdout, stderr and the
// exit code.
func govs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, govsBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("govs %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// router is a `govs run` process.
type router struct {
	cmd    *exec.Cmd
	socket string
	log    *testutil.Buffer
	done   chan struct{}
	err    error
}

// startRouter starts `govs run` (through prefix, e.g. ip netns exec) and
// waits until its control socket answers.
func startRouter(t *testing.T, prefix []string, cfgPath string) *router {
	t.Helper()
	return startRouterAt(t, prefix, cfgPath, filepath.Join(t.TempDir(), "govs.sock"))
}

// startRouterAt is startRouter with the control socket at socket and more
// arguments for govs run.
func startRouterAt(t *testing.T, prefix []string, cfgPath, socket string, extra ...string) *router {
	t.Helper()
	args := append(append([]string{}, prefix...), govsBin, "run", "-c", cfgPath, "--socket", socket, "--drain-timeout", "10s")
	args = append(args, extra...)
	r := &router{socket: socket, log: &testutil.Buffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(args[0], args[1:]...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("govs run log:\n%s", r.log.String())
		}
	})
	testutil.Eventually(t, 15*time.Second, func() error {
		if _, _, code := govs(t, "status", "--socket", socket); code == 0 {
			return nil
		}
		select {
		case <-r.done:
			t.Fatalf("govs run exited early: %v\n%s", r.err, r.log.String())
		default:
		}
		return fmt.Errorf("govs run did not answer on its control socket\n%s", r.log.String())
	})
	return r
}

// stop sends sig and waits for the exit code.
func (r *router) stop(t *testing.T, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(within):
		t.Fatalf("govs run did not exit within %s of %v", within, sig)
	}
	if r.err == nil {
		return 0
	}
	if ee, ok := r.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// get fetches url over a fresh connection from the given local address.
func get(ctx context.Context, url, local string) (string, error) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// background runs fetch on a goroutine, for a stream that stays open
// across what the test does meanwhile (a reload, a stop); the function it
// returns waits for fetch's result.
func background(fetch func() (string, error)) func() (string, error) {
	type result struct {
		out string
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := fetch()
		res <- result{out, err}
	}()
	return func() (string, error) {
		r := <-res
		return r.out, r.err
	}
}

// lvsServers is the server blocks of a virtual service in lvs.cf: rs1,
// rs2, ... at the given addresses, active, on the service's port.
func lvsServers(addrs ...string) string {
	var b strings.Builder
	for i, a := range addrs {
		fmt.Fprintf(&b, "    server rs%d {\n        address = %s\n        active = 1\n    }\n", i+1, a)
	}
	return b.String()
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitRoles waits, boundedly, until role(i) is one of want[i]'s
// alternatives ("backup|stopped") for every i; "" is not checked.
func waitRoles(t *testing.T, within time.Duration, role func(int) string, want ...string) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		var got []string
		ok := true
		for i, w := range want {
			if w == "" {
				got = append(got, "-")
				continue
			}
			r := role(i)
			got = append(got, r)
			ok = ok && slices.Contains(strings.Split(w, "|"), r)
		}
		if !ok {
			return fmt.Errorf("roles %v, want %v", got, want)
		}
		return nil
	})
}

// serveHTTPBackend serves handler(name) on addr ("127.0.0.1:0" for a
// port the kernel picks) until the test ends, and returns the address.
func serveHTTPBackend(t *testing.T, name, addr string) string {
	t.Helper()
	ln := testutil.Listen(t, "tcp", addr)
	srv := &http.Server{Handler: handler(name), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// backends starts, in this process, an HTTP real server (handler) for each
// name at its TCP address and a UDP one answering "NAME payload" for
// each at its UDP address; they stop when the test ends.
func backends(t *testing.T, tcp, udp map[string]string) {
	t.Helper()
	for name, a := range tcp {
		serveHTTPBackend(t, name, a)
	}
	for name, a := range udp {
		testutil.ServePacket(t, testutil.ListenPacket(t, "udp", a), func(req []byte, reply func([]byte)) {
			reply(append([]byte(name+" "), req...))
		})
	}
}
