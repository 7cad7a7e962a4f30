//go:build unix

package control

import (
	"fmt"
	"os"
	"syscall"
)

// checkDirOwner refuses a socket directory that belongs to another user
// (root excepted): in a shared temporary directory someone else could have
// made govs-UID first, and then owns, and may replace, whatever the router
// puts there.
func checkDirOwner(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control socket directory %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := uint32(os.Geteuid()); st.Uid != uid && st.Uid != 0 {
		return fmt.Errorf("control socket directory %s belongs to uid %d, not to this user (uid %d); choose another --socket",
			dir, st.Uid, uid)
	}
	return nil
}
