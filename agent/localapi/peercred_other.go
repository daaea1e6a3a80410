//go:build !linux && !darwin

package localapi

import (
	"errors"
	"net"
	"runtime"
)

// peerUID is not supported here: without kernel-provided credentials the
// agent cannot tell who is calling, so it refuses every login.
func peerUID(*net.UnixConn) (string, error) {
	return "", errors.New("peer credentials are unsupported on " + runtime.GOOS)
}
