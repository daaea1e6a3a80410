package localapi

import "golang.org/x/sys/unix"

// peerUIDOf reads SO_PEERCRED: the peer's credentials at connect time.
func peerUIDOf(fd int) (uint32, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
