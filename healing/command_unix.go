//go:build !windows

package healing

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the command in a process group of its own and makes
// cancellation kill that whole group: a timed-out script's children go
// with it.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
