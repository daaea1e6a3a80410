//go:build linux || darwin

package localapi

import (
	"net"
	"strconv"
)

// peerUID returns the uid of the process on the other end of c, as the
// kernel reports it (peerUIDOf, per operating system), never as the caller
// claims.
func peerUID(c *net.UnixConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var uid uint32
	var serr error
	if err := raw.Control(func(fd uintptr) { uid, serr = peerUIDOf(int(fd)) }); err != nil {
		return "", err
	}
	if serr != nil {
		return "", serr
	}
	return strconv.FormatUint(uint64(uid), 10), nil
}
