package control

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads SO_PEERCRED: the credentials of the process that
// connected, as the kernel recorded them at connect.
func peerCred(c *net.UnixConn) (peer, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return peer{}, false
	}
	var cred *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || serr != nil {
		return peer{}, false
	}
	return peer{known: true, uid: int(cred.Uid), pid: int(cred.Pid)}, true
}
