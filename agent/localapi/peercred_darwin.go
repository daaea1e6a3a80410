package localapi

import "golang.org/x/sys/unix"

// peerUIDOf reads LOCAL_PEERCRED: the peer's effective uid.
func peerUIDOf(fd int) (uint32, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
