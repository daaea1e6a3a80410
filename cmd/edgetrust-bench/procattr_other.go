//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing where the kernel cannot tie a child's life to
// its parent's; stop the brokers by hand after killing the bench.
func dieWithParent(*exec.Cmd) {}
