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

	"golang.org/x/sys/unix"
)

// DefaultSocket is the socket path when Config.Socket is empty.
const DefaultSocket = "/run/edgetrust-agent/agent.sock"

// socketMode lets anyone connect: the kernel's peer credentials, not the
// file mode, tell the agent who is calling.
const socketMode = 0o666

// safeDirHint ends every refusal of a socket directory.
const safeDirHint = "choose a --socket in a directory owned by root (or the agent's own user) that no one else can write, such as the default " + DefaultSocket

// testHookBound, when set by a test, runs after the socket is bound and
// before it appears at its path.
var testHookBound func(path string)

// listen binds the agent's socket at path with socketMode.
//
// The directory is checked first (checkSocketDir): the agent often runs as
// root, and whoever else could rename names in that directory could make
// it act on a file of their choosing.
//
// The mode is never set through path. bind(2) masks the socket's mode with
// the umask (the systemd unit sets UMask=0077, giving 0600), and on Linux
// fchmod on the socket does not help: before bind the kernel still applies
// the umask to it, after bind it changes the socket's own inode, not the
// file. Changing the umask is process-wide, so any goroutine creating a
// file meanwhile would get it too. So the socket is bound in a fresh 0700
// directory that this process creates (mkdir is exclusive) inside the
// checked directory and holds open, made 0666 there through that open
// directory, where no one else can put a file under its name, and then
// renamed to path. rename(2) replaces a name (a stale socket) without
// following it, so the socket appears at path already with its final mode,
// and nothing at path is ever chmodded.
func listen(path string) (net.Listener, error) {
	maxPath := len(unix.RawSockaddrUnix{}.Path) - 1
	if len(path) > maxPath {
		return nil, fmt.Errorf("socket path %s is %d bytes, more than the %d this system allows; choose a shorter --socket", path, len(path), maxPath)
	}
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
		// A stale socket: the rename below replaces it.
	}
	tmp, err := os.MkdirTemp(dir, ".tmp")
	if err != nil {
		return nil, fmt.Errorf("creating a private directory for the socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tpath := filepath.Join(tmp, "s")
	if len(tpath) > maxPath {
		return nil, fmt.Errorf("socket path %s is too long: the agent first creates the socket as %s, %d bytes, more than the %d this system allows; choose a shorter --socket",
			path, tpath, len(tpath), maxPath)
	}
	dfd, err := openPrivateDir(tmp)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tpath, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // the socket leaves tpath; removeSocket removes path
	if err := unix.Fchmodat(dfd, "s", socketMode, 0); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting socket mode: %w", err)
	}
	if testHookBound != nil {
		testHookBound(path)
	}
	if err := os.Rename(tpath, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("moving the socket to %s: %w", path, err)
	}
	return ln, nil
}

// openPrivateDir opens dir, which this process just created, without
// following a symbolic link, and makes sure it is still that directory: a
// directory of the agent's own user that no one else may enter. Names
// looked up through the descriptor stay in it whatever happens to the
// names above it.
func openPrivateDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("checking %s: %w", dir, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o7077 != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s changed under the agent (owner uid %d, mode %o); %s", dir, st.Uid, st.Mode&0o7777, safeDirHint)
	}
	return fd, nil
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
