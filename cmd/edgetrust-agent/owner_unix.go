//go:build unix

package main

import (
	"os"
	"syscall"
)

// chownLike gives path the owner of ref. install rewrites the state file as
// root; under systemd the agent runs as its own user and must still read it.
func chownLike(path, ref string) error {
	fi, err := os.Stat(ref)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Lchown(path, int(st.Uid), int(st.Gid))
}
