//go:build linux || darwin

package localapi

import (
	"errors"
	"net"
	"strconv"
)

// peerOf returns the uid of the process on the other end of c, as the
// kernel reports it (peerUIDOf, per operating system), never as the caller
// claims.
func peerOf(c net.Conn) (string, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return "", errors.New("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
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
