//go:build linux

package netnstest

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f in the namespace, in this process: on a thread of its own
// moved into the namespace and back, so that netlink and socket calls f
// makes reach the namespace's interfaces. f must not start goroutines that
// expect to be in it.
func (n *NS) Do(f func()) {
	n.t.Helper()
	target, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		n.t.Fatal(err)
	}
	defer target.Close()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		n.t.Fatal(err)
	}
	defer self.Close()
	runtime.LockOSThread()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		n.t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked, and dies with the goroutine, rather
			// than serve others in the wrong namespace.
			n.t.Errorf("leaving namespace %s: %v", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
}
