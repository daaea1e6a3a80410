package localapi

import (
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// peerUID returns the effective uid of the process on the other end of c,
// from the kernel (LOCAL_PEERCRED).
func peerUID(c *net.UnixConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var cred *unix.Xucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	}); err != nil {
		return "", err
	}
	if serr != nil {
		return "", serr
	}
	return strconv.FormatUint(uint64(cred.Uid), 10), nil
}
