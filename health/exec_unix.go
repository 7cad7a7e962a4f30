//go:build unix

package health

import (
	"os/exec"
	"syscall"
)

// setKillGroup runs the program in its own process group and kills the
// whole group on timeout: a shell script's sleep would otherwise outlive
// the script and keep running after the check gave up on it.
func setKillGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
