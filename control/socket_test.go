package control

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The control socket is made 0600, in a 0700 directory.
func TestSocketMode(t *testing.T) {
	_, path := start(t, sample())
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("%s is %v, not a socket", path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %o, want 600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %o, want 700", perm)
	}
}

// staleSocket leaves at path the socket file of a router that was killed:
// it exists, and refuses connections.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("no stale socket to test with: %v", err)
	}
}

// A socket file whose router died is removed and taken over.
func TestStaleSocket(t *testing.T) {
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, path)

	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	srv := NewServer(sample(), nil)
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	c := Dial(path)
	defer c.Close()
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("the new router does not answer: %v", err)
	}
}

// A live router keeps its socket: a second one is refused, with its PID.
func TestRefuseLive(t *testing.T) {
	c, path := start(t, sample())
	ln, err := Listen(path)
	if err == nil {
		ln.Close()
		t.Fatal("a second router took a live router's socket")
	}
	want := "another govs router (pid 4242) is already running at " + path
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// The first router still answers.
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("first router: %v", err)
	}
}

// Something that is not a govs router but listens there is not evicted
// either.
func TestRefuseForeignListener(t *testing.T) {
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			conn, err := other.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	_, err = Listen(path)
	if err == nil || !strings.Contains(err.Error(), "already running at "+path) {
		t.Errorf("got %v", err)
	}
}

func TestRefuseNonSocket(t *testing.T) {
	path := sockPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("got %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("the file was touched")
	}
}

func TestPathTooLong(t *testing.T) {
	path := "/tmp/" + strings.Repeat("x", 120) + "/govs.sock"
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("got %v", err)
	}
}

// Shutdown closes the listener, which removes the socket file, and the
// next client is told no router runs.
func TestShutdownRemovesSocket(t *testing.T) {
	path := sockPath(t)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(sample(), nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	c := Dial(path)
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file left behind: %v", err)
	}
	_, err = Dial(path).Status(context.Background())
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("after shutdown: %v", err)
	}
}

func TestNotRunning(t *testing.T) {
	want := func(path string) string {
		return "no govs router is running at " + path + " (is `govs run` started? use --socket)"
	}
	// No socket file at all.
	path := sockPath(t)
	_, err := Dial(path).Snapshot(context.Background())
	if err == nil || err.Error() != want(path) || !errors.Is(err, ErrNotRunning) {
		t.Errorf("missing socket: %v", err)
	}
	// A socket file nobody listens on.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, path)
	_, err = Dial(path).Reload(context.Background())
	if err == nil || err.Error() != want(path) || !errors.Is(err, ErrNotRunning) {
		t.Errorf("dead socket: %v", err)
	}
}

func TestContextCanceled(t *testing.T) {
	f := sample()
	f.gate = make(chan struct{})
	c, _ := start(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Reload(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v", err)
	}
	if errors.Is(err, ErrNotRunning) {
		t.Error("a timeout reads as no router running")
	}
}

func TestDefaultSocketPath(t *testing.T) {
	for _, c := range []struct {
		uid       int
		xdg, want string
	}{
		{0, "/run/user/0", "/run/govs/govs.sock"},
		{1000, "/run/user/1000", "/run/user/1000/govs/govs.sock"},
		{1000, "", "/var/tmp/govs-1000/govs.sock"},
	} {
		if got := defaultSocketPath(c.uid, c.xdg, "/var/tmp"); got != c.want {
			t.Errorf("uid %d XDG_RUNTIME_DIR=%q: %s, want %s", c.uid, c.xdg, got, c.want)
		}
	}
	if os.Geteuid() == 0 && DefaultSocketPath() != "/run/govs/govs.sock" {
		t.Errorf("root: %s", DefaultSocketPath())
	}
}

// A socket directory someone else made first is refused: its owner could
// replace the socket.
func TestRefuseForeignDir(t *testing.T) {
	path := sockPath(t)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	owner := 54321
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	if err := os.Chown(dir, owner, owner); err != nil {
		t.Skip(err)
	}
	_, err := Listen(path)
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 54321") {
		t.Errorf("got %v", err)
	}
}
