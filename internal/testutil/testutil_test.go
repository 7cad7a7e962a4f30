package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records a Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn with a fatalTB on a goroutine of its own and returns the
// message it failed with, "" if it did not.
func fails(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, time.Second, "three looks", func() bool { return n.Add(1) == 3 })
	start := time.Now()
	msg := fails(t, func(tb testing.TB) { WaitFor(tb, 50*time.Millisecond, "nothing", func() bool { return false }) })
	if msg != "timed out after 50ms waiting for nothing" {
		t.Errorf("failure %q", msg)
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > time.Second {
		t.Errorf("gave up after %s, want 50ms", el)
	}
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	Eventually(t, time.Second, func() error {
		if n.Add(1) < 3 {
			return fmt.Errorf("look %d", n.Load())
		}
		return nil
	})
	msg := fails(t, func(tb testing.TB) {
		Eventually(tb, 20*time.Millisecond, func() error { return fmt.Errorf("state %s", "backup") })
	})
	if msg != "not within 20ms: state backup" {
		t.Errorf("failure %q", msg)
	}
}

func TestPollInterval(t *testing.T) {
	for _, c := range []struct {
		n          int
		cost, want time.Duration
	}{
		{0, 0, time.Millisecond},
		{2, 0, 4 * time.Millisecond},
		{20, 0, 10 * time.Millisecond},
		{0, 5 * time.Millisecond, 50 * time.Millisecond},
		{20, time.Second, 100 * time.Millisecond},
	} {
		if got := pollInterval(c.n, c.cost); got != c.want {
			t.Errorf("pollInterval(%d, %s) = %s, want %s", c.n, c.cost, got, c.want)
		}
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if b.Len() != 400 || b.String() != strings.Repeat("x", 400) {
		t.Errorf("buffer %q", b.String())
	}
}

func TestServe(t *testing.T) {
	ln := Listen(t, "tcp", "127.0.0.1:0")
	held := make(chan struct{})
	s := Serve(t, ln, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line == "hold\n" {
			close(held)
			_, _ = io.Copy(io.Discard, c) // until Close closes c
			return
		}
		fmt.Fprintf(c, "got %s", line)
	})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "hi\n")
	if got, _ := bufio.NewReader(c).ReadString('\n'); got != "got hi\n" {
		t.Errorf("answer %q", got)
	}
	c.Close()
	h, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fmt.Fprint(h, "hold\n")
	<-held
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a handler blocked on its connection")
	}
	s.Close()
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still accepting after Close")
	}
}

func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	s := Serve(t, Listen(t, "tcp", "127.0.0.1:0"), func(c net.Conn) {
		close(started)
		<-release
		fmt.Fprint(c, "served to the end\n")
	})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-started
	done := make(chan struct{})
	go func() { s.Shutdown(); close(done) }()
	select {
	case <-done:
		t.Fatal("Shutdown returned while a handler was still running")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
	close(release)
	<-done
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := bufio.NewReader(c).ReadString('\n'); got != "served to the end\n" {
		t.Errorf("after Shutdown the connection got %q (%v)", got, err)
	}
}

func TestServePacket(t *testing.T) {
	pc := ListenPacket(t, "udp", "127.0.0.1:0")
	ServePacket(t, pc, func(req []byte, reply func([]byte)) {
		switch string(req) {
		case "quiet":
		case "twice":
			reply([]byte("one"))
			reply([]byte("two"))
		default:
			reply(append([]byte("re "), req...))
		}
	})
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	c.Write([]byte("quiet"))
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "re ping" {
		t.Errorf("answer %q (%v)", buf[:n], err)
	}
	c.Write([]byte("twice"))
	for _, want := range []string{"one", "two"} {
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != want {
			t.Errorf("answer %q (%v), want %q", buf[:n], err, want)
		}
	}
}

func TestFreePort(t *testing.T) {
	lo, hi := portWindow()
	a := netip.MustParseAddr("127.0.0.1")
	seen := map[uint16]bool{}
	for range 20 {
		p := FreePort(t, a)
		if p < lo || p > hi {
			t.Errorf("port %d outside %d-%d", p, lo, hi)
		}
		if seen[p] {
			t.Errorf("port %d twice", p)
		}
		seen[p] = true
		ln := Listen(t, "tcp", netip.AddrPortFrom(a, p).String())
		ln.Close()
	}
	ln := Listen(t, "tcp", "127.0.0.1:0")
	taken := netip.MustParseAddrPort(ln.Addr().String()).Port()
	if PortFree(taken, a) {
		t.Errorf("port %d reported free while listened on", taken)
	}
}

func TestWindow(t *testing.T) {
	for _, c := range []struct{ eLo, eHi, lo, hi uint16 }{
		{32768, 60999, 20000, 32767}, // Linux's default
		{49152, 65535, 20000, 49151}, // IANA's
		{10000, 50000, 50001, 65535}, // little left below
		{1024, 65535, 20000, 65535},  // nothing left: anywhere
	} {
		if lo, hi := window(c.eLo, c.eHi); lo != c.lo || hi != c.hi {
			t.Errorf("window(%d, %d) = %d-%d, want %d-%d", c.eLo, c.eHi, lo, hi, c.lo, c.hi)
		}
	}
}

func TestLoad(t *testing.T) {
	// Every third try fails: 3 workers of 10 tries each end with 18 good
	// and 12 failed, the first failure being one of the i == 0 tries.
	var tries atomic.Int64
	l := StartLoad(3, 10, func(w, i int) error {
		tries.Add(1)
		if i%3 == 0 {
			return fmt.Errorf("worker %d try %d", w, i)
		}
		return nil
	})
	WaitFor(t, 5*time.Second, "30 tries", func() bool { return tries.Load() == 30 })
	ok, failed, first := l.Stop()
	if ok != 18 || failed != 12 || first == nil || !strings.HasSuffix(first.Error(), "try 0") {
		t.Errorf("ok %d, failed %d, first %v", ok, failed, first)
	}
	// Stop ends tries that would go on; it may be called again.
	tries.Store(0)
	l = StartLoad(2, 1<<30, func(int, int) error {
		tries.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	})
	WaitFor(t, 5*time.Second, "tries", func() bool { return tries.Load() > 4 })
	ok, failed, first = l.Stop()
	if again, _, _ := l.Stop(); ok != tries.Load() || failed != 0 || first != nil || again != ok {
		t.Errorf("ok %d of %d tries, failed %d, first %v, again %d", ok, tries.Load(), failed, first, again)
	}
}

func TestRandomFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	sa := WriteRandom(t, a, 1, 3<<20)
	sb := WriteRandom(t, b, 2, 3<<20)
	if sa == sb {
		t.Error("two seeds, one file")
	}
	if got, err := FileSHA256(a); err != nil || got != sa {
		t.Errorf("FileSHA256 = %s (%v), want %s", got, err, sa)
	}
	if fi, err := os.Stat(a); err != nil || fi.Size() != 3<<20 || fi.Mode().Perm() != 0o644 {
		t.Errorf("file %v (%v)", fi, err)
	}
	if again := WriteRandom(t, a, 1, 3<<20); again != sa {
		t.Error("one seed, two files")
	}
}

func TestVsftpd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rs1")
	VsftpdDir(t, dir, os.Getuid(), os.Getgid())
	for _, d := range []string{"root", "root/upload", "empty"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	conf := VsftpdConf(dir, "listen=YES", "listen_port=2121")
	for _, want := range []string{"listen=YES\nlisten_port=2121\n", "\nanon_root=" + dir + "/root\n", "\nvsftpd_log_file=" + dir + "/vsftpd.log\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("configuration without %q:\n%s", want, conf)
		}
	}
}
