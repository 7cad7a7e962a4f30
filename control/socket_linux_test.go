package control

import (
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The socket never appears at its path with a wider mode than 0600, even
// under umask 000 in an existing world-readable directory: another user
// watching the directory must never find a moment to connect.
func TestSocketNoModeWindow(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(dir, "govs.sock")
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	const rounds = 50
	seen := make(chan uint32, 2*rounds)
	var stop atomic.Bool
	go func() {
		defer close(seen)
		buf := make([]byte, 4096)
		// Spinning on the non-blocking descriptor wakes sooner than a
		// blocking read would, as an attacker's loop would.
		for !stop.Load() {
			n, err := unix.Read(fd, buf)
			if err == unix.EAGAIN {
				runtime.Gosched()
				continue
			}
			if err != nil || n <= 0 {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := string(buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)])
				off += unix.SizeofInotifyEvent + int(ev.Len)
				if filepath.Base(path) != trimNul(name) {
					continue
				}
				var st unix.Stat_t
				if unix.Lstat(path, &st) == nil {
					seen <- st.Mode & 0o777
				}
			}
		}
	}()
	for range rounds {
		ln, err := Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
	}
	stop.Store(true)
	for mode := range seen {
		if mode != 0o600 {
			t.Fatalf("the socket appeared at its path with mode %o", mode)
		}
	}
}

func trimNul(s string) string {
	for i := range len(s) {
		if s[i] == 0 {
			return s[:i]
		}
	}
	return s
}
