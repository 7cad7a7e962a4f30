//go:build unix

package proxy

import "syscall"

// descriptorLimit is the process's soft RLIMIT_NOFILE, which the Go
// runtime raises to the hard limit at start.
func descriptorLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur <= 0 {
		return 1024
	}
	// Cur is signed on some systems (FreeBSD) and may mean unlimited.
	return min(uint64(rl.Cur), 1<<22)
}
