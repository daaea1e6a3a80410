package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// LockFile is the file in the data directory that a serving broker holds
// an exclusive lock on (lock_unix.go), with its PID in it.
const LockFile = "lock"

// ErrDataDirInUse is wrapped by Run's error when another process holds the
// data directory's lock.
var ErrDataDirInUse = errors.New("data directory is in use")

// CheckListen checks a --listen address before anything is created: HOST:PORT
// with a numeric port 0-65535 (0 picks a free one); HOST may be empty (every
// address), an IP address or a host name.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (e.g. 0.0.0.0:7443, [::]:7443 or :7443)", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("%q: the port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" || net.ParseIP(host) != nil || validHostName(host) {
		return nil
	}
	if h, zone, ok := strings.Cut(host, "%"); ok && zone != "" && net.ParseIP(h) != nil {
		return nil // fe80::1%eth0
	}
	return fmt.Errorf("%q: %q is neither an IP address nor a host name", addr, host)
}

// CheckSAN checks an extra certificate name (--tls-san): an IP address or
// a host name, which may start with "*." (a wildcard).
func CheckSAN(name string) error {
	if net.ParseIP(name) != nil || validHostName(strings.TrimPrefix(name, "*.")) {
		return nil
	}
	return fmt.Errorf("%q is neither an IP address nor a host name", name)
}

// validHostName reports whether s is a DNS name: dot-separated labels of
// letters, digits and hyphens, none starting or ending with a hyphen.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
