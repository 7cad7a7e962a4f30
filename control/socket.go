package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// maxSocketPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes, one for the terminating NUL).
const maxSocketPath = 107

// DefaultSocketPath is where the router listens unless told otherwise:
// /run/govs/govs.sock for root; for another user $XDG_RUNTIME_DIR/govs/
// govs.sock, else a per-user directory in the temporary directory, so that
// an unprivileged router (the proxy plane needs no root on high ports)
// neither needs /run nor meets another user's socket.
func DefaultSocketPath() string {
	return defaultSocketPath(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"), os.TempDir())
}

func defaultSocketPath(uid int, runtimeDir, tmp string) string {
	if uid == 0 {
		return "/run/govs/govs.sock"
	}
	if runtimeDir != "" {
		return filepath.Join(runtimeDir, "govs", "govs.sock")
	}
	return filepath.Join(tmp, "govs-"+strconv.Itoa(uid), "govs.sock")
}

// Listen opens the control socket at path. It creates the parent directory
// (0700) if need be, refuses when a live router already listens there,
// removes a socket file left by one that died, and makes the socket 0600 so
// that only the router's user can steer it. Closing the listener removes
// the socket file.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is too long (%d bytes; a unix socket path holds at most %d)",
			path, len(path), maxSocketPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if err := checkDirOwner(dir); err != nil {
		return nil, err
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("control socket %s: another govs router started at the same moment: %w", path, err)
		}
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The socket is created with the umask's mode; the 0700 directory
	// covers the moment before this chmod when the router made it.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// clearStale makes path free for a new socket: nothing is there, or a
// socket nobody listens on any more, which it removes.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket path %s exists and is not a socket; not touching it", path)
	}
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		conn.Close()
		return alreadyRunning(path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		// Not provably dead (no permission to connect, say): leave it.
		return fmt.Errorf("control socket %s exists and cannot be checked: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale control socket: %w", err)
	}
	return nil
}

// alreadyRunning names the router that holds path, when it says who it is.
func alreadyRunning(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := Dial(path)
	defer c.Close()
	if st, err := c.Status(ctx); err == nil && st.PID != 0 {
		return fmt.Errorf("another govs router (pid %d) is already running at %s", st.PID, path)
	}
	return fmt.Errorf("another govs router is already running at %s (something listens on the socket)", path)
}
