//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The control socket lets root and the router's user change things, lets
// the members of --socket-group read, and keeps everyone else out; the
// router checks the peer's credentials, not only the file's mode.
func TestControlSocketPeers(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("control socket peers: needs Linux and root, to run clients as other users")
	}
	// A directory other users can enter, with a copy of govs they may run.
	dir, err := os.MkdirTemp("", "govs-peers-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "govs")
	copyFile(t, govsBin, bin, 0o755)
	loopbackBackends(t)
	cfgPath := filepath.Join(dir, "lvs.cf")
	writeFile(t, cfgPath, fmt.Sprintf(loopbackCfg, 1, "wrr", 3, ""))
	socket := filepath.Join(dir, "govs.sock")
	startRouterAt(t, nil, cfgPath, socket, "--socket-group", "65534")

	fi, err := os.Lstat(socket)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o660 || st.Gid != 65534 {
		t.Fatalf("socket mode %o group %d, want 660 and group 65534", fi.Mode().Perm(), st.Gid)
	}
	as := func(uid, gid uint32, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, "--socket", socket)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Dir = dir
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}
	// A member of the group reads, and may not change.
	if out, code := as(65534, 65534, "status"); code != 0 {
		t.Fatalf("status as a member of the socket's group: %d\n%s", code, out)
	}
	if out, code := as(65534, 65534, "list", "-n"); code != 0 || !strings.Contains(out, "127.78.0.21:19000") {
		t.Fatalf("list as a member of the socket's group: %d\n%s", code, out)
	}
	out, code := as(65534, 65534, "reload")
	if code == 0 || !strings.Contains(out, "may read") {
		t.Fatalf("reload as a member of the socket's group: %d\n%s", code, out)
	}
	out, code = as(65534, 65534, "realserver", "disable", "127.78.0.21:19000")
	if code == 0 || !strings.Contains(out, "may read") {
		t.Fatalf("realserver disable as a member of the socket's group: %d\n%s", code, out)
	}
	// Someone outside it cannot connect at all.
	if out, code := as(65533, 65533, "status"); code == 0 {
		t.Fatalf("status by a user outside the socket's group succeeded:\n%s", out)
	}
	// Root changes things.
	if out, code := as(0, 0, "reload"); code != 0 {
		t.Fatalf("reload as root: %d\n%s", code, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
