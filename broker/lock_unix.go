//go:build unix

package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDataDir takes an exclusive flock on dir/lock (0600) and writes this
// process's PID into it, so that a second broker on the same directory
// fails and names the first. The kernel drops the lock when the process
// ends, however it ends: a SIGKILL leaves no stale lock. The returned
// function releases it. (A reader such as an online backup does not take
// it.)
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the data directory's lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := "another process"
			if b, err := os.ReadFile(path); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
					holder = "PID " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("%w: %s holds %s; stop that broker first, or give this one another --data-dir", ErrDataDirInUse, holder, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The PID is for the message above only: the lock is the flock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
