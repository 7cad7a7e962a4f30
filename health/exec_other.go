//go:build !unix

package health

import "os/exec"

// setKillGroup leaves the default cancellation (kill the process) where
// process groups do not exist.
func setKillGroup(*exec.Cmd) (cleanup func()) { return func() {} }
