package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// maxSocketPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes, one for the terminating NUL).
const maxSocketPath = 107

// DefaultSocketPath is where the router listens unless told otherwise:
// $GOVS_SOCKET when set (for the router and every command alike); else
// /run/govs/govs.sock for root; for another user $XDG_RUNTIME_DIR/govs/
// govs.sock, else a per-user directory in the temporary directory, so that
// an unprivileged router (the proxy plane needs no root on high ports)
// neither needs /run nor meets another user's socket.
func DefaultSocketPath() string {
	if p := os.Getenv("GOVS_SOCKET"); p != "" {
		return p
	}
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
//
// The socket is bound in a fresh 0700 directory beside path, given its
// mode there, and only then linked into place: bind creates the file with
// the umask's mode, and in an existing directory that others can enter a
// chmod after bind leaves a window in which anyone may connect. link fails
// if something took path meanwhile, where rename would replace it.
func Listen(path string) (net.Listener, error) {
	return ListenWith(path, SocketOptions{})
}

// SocketOptions are the control socket's access rules beyond its owner.
type SocketOptions struct {
	// ReadGroup, when set, is a group (name or number) whose members may
	// read through the socket (status, listings, health) but change
	// nothing. The socket is then 0660 and of that group.
	ReadGroup string
}

// ListenWith is Listen with access options.
func ListenWith(path string, o SocketOptions) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is too long (%d bytes; a unix socket path holds at most %d)",
			path, len(path), maxSocketPath)
	}
	gid := -1
	if o.ReadGroup != "" {
		g, err := lookupGroup(o.ReadGroup)
		if err != nil {
			return nil, fmt.Errorf("control socket group: %w", err)
		}
		gid = g
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
	tmp, err := os.MkdirTemp(dir, ".govs-sock-")
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	// The temporary name must fit sun_path too.
	bound := filepath.Join(tmp, "s")
	if len(bound) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is too long to be made safely (%d bytes with its temporary directory; at most %d)",
			path, len(bound), maxSocketPath)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: bound, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	mode := os.FileMode(0o600)
	if gid >= 0 {
		if err := os.Lchown(bound, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket group: %w", err)
		}
		mode = 0o660
	}
	if err := os.Chmod(bound, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Link(bound, path); err != nil {
		ln.Close()
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("control socket %s: another govs router started at the same moment: %w", path, err)
		}
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &socketListener{UnixListener: ln, path: path, gid: gid}, nil
}

// socketListener removes the socket's path when closed (the file was
// bound under another name) and tells handlers who connected.
type socketListener struct {
	*net.UnixListener
	path string
	gid  int
	once sync.Once
}

// Close stops listening and removes the socket file.
func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { _ = os.Remove(l.path) })
	return err
}

// Addr names the socket by its path, not its temporary name.
func (l *socketListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

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

// lookupGroup resolves a group name or number.
func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// peer is who is at the other end of a control connection.
type peer struct {
	known bool
	uid   int
	pid   int
}

type peerKey struct{}

// connContext records the peer's credentials with each connection, where
// the system tells them (SO_PEERCRED on Linux).
func connContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	if p, ok := peerCred(uc); ok {
		return context.WithValue(ctx, peerKey{}, p)
	}
	return ctx
}

// mayChange reports whether the peer of ctx may change the router: root,
// or the user the router runs as. Anyone else who could connect got in
// through the socket's group and may only read. Where the system does not
// tell the peer, the socket's mode alone decides.
func mayChange(ctx context.Context) (bool, peer) {
	p, ok := ctx.Value(peerKey{}).(peer)
	if !ok || !p.known {
		return true, p
	}
	return p.uid == 0 || p.uid == os.Geteuid(), p
}
