package localapi

import (
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process on the other end of c, from the
// kernel (SO_PEERCRED: the credentials at connect time).
func peerUID(c *net.UnixConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return "", err
	}
	if serr != nil {
		return "", serr
	}
	return strconv.FormatUint(uint64(cred.Uid), 10), nil
}
