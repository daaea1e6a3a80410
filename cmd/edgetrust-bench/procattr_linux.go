package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel send SIGTERM to cmd's process when the
// bench dies, so a killed bench leaves no broker running.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
