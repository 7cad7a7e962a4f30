//go:build unix

package health

import (
	"os/exec"
	"syscall"
)

// setKillGroup runs the program in its own process group and kills the
// whole group on timeout: a shell script's sleep would otherwise outlive
// the script and keep running after the check gave up on it. The returned
// function kills whatever is left of the group once the check is over, so
// that children a check leaves behind do not pile up, one per interval.
func setKillGroup(cmd *exec.Cmd) (cleanup func()) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	kill := func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.Cancel = kill
	return func() { _ = kill() }
}
