//go:build !windows

package localapi

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgetrust/edgetrust/agent/state"
)

func newAt(sock string) (*Server, error) {
	return New(Config{Socket: sock, Login: (&fakeLogin{}).login, Status: func() state.Status { return state.Status{} }})
}

// mkdir makes dir with exactly perm (whatever the umask).
func mkdir(t *testing.T, dir string, perm fs.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
}

// TestSocketDirRefused: the agent runs as root; a socket directory that
// anyone else could change (issue 10.6: with the mode set by path after
// bind, a user who can write it could swap the socket for a symbolic link
// to any file and have the agent chmod that file 0666) is refused before
// anything is created in it.
func TestSocketDirRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, base string) (sockDir string)
		want  string
	}{
		{"world-writable", func(t *testing.T, base string) string {
			d := filepath.Join(base, "d")
			mkdir(t, d, 0o777)
			return d
		}, "may be written by users other than its owner (mode 0777)"},
		{"world-writable and sticky like /tmp", func(t *testing.T, base string) string {
			d := filepath.Join(base, "d")
			mkdir(t, d, 0o777|fs.ModeSticky)
			return d
		}, "may be written by users other than its owner"},
		{"writable by another group", func(t *testing.T, base string) string {
			needRoot(t)
			d := filepath.Join(base, "d")
			mkdir(t, d, 0o775)
			if err := os.Chown(d, 0, 65534); err != nil {
				t.Fatal(err)
			}
			return d
		}, "may be written by users other than its owner (mode 0775)"},
		{"symbolic link", func(t *testing.T, base string) string {
			d := filepath.Join(base, "real")
			mkdir(t, d, 0o755)
			l := filepath.Join(base, "link")
			if err := os.Symlink(d, l); err != nil {
				t.Fatal(err)
			}
			return l
		}, "is a symbolic link"},
		{"owned by another user", func(t *testing.T, base string) string {
			needRoot(t)
			d := filepath.Join(base, "d")
			mkdir(t, d, 0o755)
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return d
		}, "is owned by uid 65534, not by root or the agent's user"},
		{"inside a world-writable directory", func(t *testing.T, base string) string {
			p := filepath.Join(base, "p")
			mkdir(t, p, 0o777)
			d := filepath.Join(p, "d")
			mkdir(t, d, 0o755)
			return d
		}, "which users other than its owner may write (mode 0777) and which is not sticky"},
		{"inside another user's directory", func(t *testing.T, base string) string {
			needRoot(t)
			p := filepath.Join(base, "p")
			mkdir(t, p, 0o755)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			d := filepath.Join(p, "d")
			mkdir(t, d, 0o755)
			return d
		}, "is owned by uid 65534"},
		{"created inside a world-writable directory", func(t *testing.T, base string) string {
			p := filepath.Join(base, "p")
			mkdir(t, p, 0o777)
			return filepath.Join(p, "new") // MkdirAll creates it 0755
		}, "which users other than its owner may write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := sockDir(t)
			dir := tt.setup(t, base)
			sock := filepath.Join(dir, "a.sock")
			s, err := newAt(sock)
			if err == nil {
				s.Close()
				t.Fatalf("New accepted socket directory %s", dir)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "choose a --socket in a directory owned by root") {
				t.Errorf("err = %v\nwant it to contain %q and say what to do", err, tt.want)
			}
			if _, err := os.Lstat(sock); !os.IsNotExist(err) {
				t.Errorf("something was created at %s: %v", sock, err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%s is not empty: %v", dir, ents)
			}
		})
	}
}

// TestSocketDirAccepted: directories only root or the agent's user can
// change pass: also under a sticky world-writable ancestor (/tmp) or a
// symbolic link owned by root (like /var/run -> /run), and writable by the
// agent's own group (the owner's private group, on umask 002 desktops).
func TestSocketDirAccepted(t *testing.T) {
	base := sockDir(t) // under /tmp, 0700
	mkdir(t, filepath.Join(base, "real"), 0o755)
	if err := os.Symlink("real", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(base, "group"), 0o775)
	mkdir(t, filepath.Join(base, "group", "d"), 0o775)
	if err := os.Chown(filepath.Join(base, "group", "d"), -1, os.Getegid()); err != nil {
		t.Fatal(err)
	}
	for _, sock := range []string{
		filepath.Join(base, "a.sock"),
		filepath.Join(base, "link", "run", "a.sock"), // run is created 0755
		filepath.Join(base, "group", "d", "a.sock"),
	} {
		s, err := newAt(sock)
		if err != nil {
			t.Errorf("New(%s): %v", sock, err)
			continue
		}
		s.Close()
	}
}

// TestSocketModeIgnoresUmask: the socket is 0666 (anyone may connect; the
// kernel names the caller) even under the systemd unit's UMask=0077, with
// no temporary directory left behind.
func TestSocketModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := sockDir(t)
	sock := filepath.Join(dir, "a.sock")
	s, err := newAt(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode = %v, want a socket 0666", fi.Mode())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "a.sock" {
		t.Errorf("directory holds %v, want only a.sock", ents)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal("the socket at its path does not accept connections:", err)
	}
	c.Close()
}

// TestSocketModeNotSetThroughPath: whatever appears at the socket's path
// between bind and the socket taking its place, the agent never changes
// its mode: before issue 10.6 it chmodded path after bind, following a
// symbolic link planted there (here: to a 0600 file) and making its target
// 0666.
func TestSocketModeNotSetThroughPath(t *testing.T) {
	dir := sockDir(t)
	victim := filepath.Join(sockDir(t), "shadow")
	if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "a.sock")
	planted := false
	testHookBound = func(path string) {
		if path != sock {
			t.Errorf("hook path = %s", path)
		}
		os.Remove(path)
		if err := os.Symlink(victim, path); err != nil {
			t.Error(err)
		}
		planted = true
	}
	defer func() { testHookBound = nil }()
	s, err := newAt(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !planted {
		t.Fatal("hook did not run")
	}
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the file a planted link pointed to became %o, want 600", fi.Mode().Perm())
	}
	if fi, err := os.Lstat(sock); err != nil {
		t.Error(err)
	} else if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("%s is %v, want a socket 0666 in place of the link", sock, fi.Mode())
	}
}

// TestSocketPathSymlinkRefused: a symbolic link at the socket path, even
// to a stale socket, is neither followed nor removed.
func TestSocketPathSymlinkRefused(t *testing.T) {
	other := filepath.Join(sockDir(t), "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: other, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	sock := filepath.Join(sockDir(t), "a.sock")
	if err := os.Symlink(other, sock); err != nil {
		t.Fatal(err)
	}
	if s, err := newAt(sock); err == nil || !strings.Contains(err.Error(), "not a socket") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("err = %v, want not a socket", err)
	}
	if fi, err := os.Lstat(sock); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was touched: %v", err)
	}
	if fi, err := os.Lstat(other); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		t.Errorf("the link's target was touched: %v", err)
	}
}

func TestSocketPathTooLong(t *testing.T) {
	sock := filepath.Join(sockDir(t), strings.Repeat("x", 120))
	if s, err := newAt(sock); err == nil || !strings.Contains(err.Error(), "choose a shorter --socket") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("err = %v", err)
	}
	// A path that fits, but not with the private directory the socket is
	// first created in.
	dir := sockDir(t)
	dir = filepath.Join(dir, strings.Repeat("d", 100-len(dir)))
	sock = filepath.Join(dir, "a")
	if s, err := newAt(sock); err == nil || !strings.Contains(err.Error(), "the agent first creates the socket as") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("err = %v", err)
	}
}
