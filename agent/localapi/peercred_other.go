//go:build !linux && !darwin && !windows

package localapi

import (
	"errors"
	"net"
	"runtime"
)

// peerOf is not supported here: without kernel-provided credentials the
// agent cannot tell who is calling, so it refuses every login.
func peerOf(net.Conn) (string, error) {
	return "", errors.New("peer credentials are unsupported on " + runtime.GOOS)
}
