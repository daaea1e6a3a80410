//go:build !windows

package localapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultSocket is the socket path when Config.Socket is empty.
const DefaultSocket = "/run/edgetrust-agent/agent.sock"

// safeDirHint ends every refusal of a socket directory.
const safeDirHint = "choose a --socket in a directory owned by root (or the agent's own user) that no one else can write, such as the default " + DefaultSocket

// listen binds the agent's socket at path, after checking its directory
// (checkSocketDir): the agent often runs as root, and whoever else could
// rename names in that directory could make it act on a file of their
// choosing.
func listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, err
	}
	// Lstat: a symbolic link at path is "not a socket", never followed.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 && fi.Mode()&fs.ModeIrregular == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it or choose another --socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another agent is already serving %s; stop it or choose another --socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// Anyone may connect: the kernel tells us who they are.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting socket mode: %w", err)
	}
	return ln, nil
}

// checkSocketDir refuses a socket directory that anyone but root or the
// agent's own user could change. dir must be a real directory, not a
// symbolic link, owned by root or the agent's effective uid. Others may
// not write it, not even with the sticky bit (like /tmp): they could still
// create a name there first, such as their own socket at the agent's path,
// which clients would then trust. Its group may write it only if that is
// root's group (gid 0) or the agent's effective gid: the owner's private
// group (umask 002 desktops) is fine, a shared group is not.
//
// The same holds for every directory above dir, except that a sticky one
// (like /tmp) may be writable by anyone: whoever can rename entries of an
// ancestor could swap dir for one of their own after this check, and the
// sticky bit stops that. The ancestors are checked both as written (a
// symbolic link there, like /var/run, must be owned by root or the agent's
// user; the directory holding it is the next one checked) and as the links
// resolve. This is OpenSSH's StrictModes rule, with the exceptions for the
// agent's own group and for sticky ancestors.
func checkSocketDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("checking socket directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return fmt.Errorf("checking socket directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("socket directory %s is a symbolic link; %s", abs, safeDirHint)
	case !fi.IsDir():
		return fmt.Errorf("socket directory %s is not a directory; %s", abs, safeDirHint)
	}
	if err := checkOwner(abs, fi); err != nil {
		return err
	}
	if othersMayWrite(fi) {
		return fmt.Errorf("socket directory %s may be written by users other than its owner (mode %04o); %s", abs, fi.Mode().Perm(), safeDirHint)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("checking socket directory: %w", err)
	}
	for _, p := range []string{abs, real} {
		for a := filepath.Dir(p); ; a = filepath.Dir(a) {
			if err := checkAncestor(abs, a); err != nil {
				return err
			}
			if a == filepath.Dir(a) {
				break
			}
		}
	}
	return nil
}

func checkAncestor(dir, a string) error {
	fi, err := os.Lstat(a)
	if err != nil {
		return fmt.Errorf("checking socket directory %s: %w", dir, err)
	}
	if err := checkOwner(a, fi); err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode()&fs.ModeSticky == 0 && othersMayWrite(fi) {
		return fmt.Errorf("socket directory %s is inside %s, which users other than its owner may write (mode %04o) and which is not sticky; %s",
			dir, a, fi.Mode().Perm(), safeDirHint)
	}
	return nil
}

// checkOwner refuses fi (of path p) unless root or the agent's effective
// uid owns it.
func checkOwner(p string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("cannot read the owner of %s; %s", p, safeDirHint)
	}
	if st.Uid == 0 || int(st.Uid) == os.Geteuid() {
		return nil
	}
	return fmt.Errorf("%s is owned by uid %d, not by root or the agent's user (uid %d); %s", p, st.Uid, os.Geteuid(), safeDirHint)
}

// othersMayWrite reports whether anyone but the owner of fi, root's group
// and the agent's own group may write it.
func othersMayWrite(fi fs.FileInfo) bool {
	perm := fi.Mode().Perm()
	if perm&0o002 != 0 {
		return true
	}
	if perm&0o020 == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || (st.Gid != 0 && int(st.Gid) != os.Getegid())
}

func removeSocket(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Dial connects to the agent's local API at path (a Unix socket).
func Dial(ctx context.Context, path string) (net.Conn, error) {
	return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "unix", path)
}
