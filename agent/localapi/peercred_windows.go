//go:build windows

package localapi

import (
	"errors"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/windows"
)

// x/sys/windows does not wrap ImpersonateNamedPipeClient.
var procImpersonateNamedPipeClient = windows.NewLazySystemDLL("advapi32.dll").NewProc("ImpersonateNamedPipeClient")

// peerOf returns the SID of the user on the client end of a named pipe
// connection, as Windows reports it: the agent impersonates the client for
// a moment and reads the user from the impersonation token. A client that
// connected anonymously has no token to read and is refused. It must be
// called after data was read from the pipe (Windows refuses impersonation
// before).
func peerOf(c net.Conn) (string, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return "", errors.New("not a named pipe connection")
	}
	type result struct {
		sid string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Impersonation changes the identity of the OS thread, so the
		// goroutine keeps its thread. Should reverting fail, the goroutine
		// ends still locked, and the runtime ends the thread with it rather
		// than let other goroutines run as the client.
		runtime.LockOSThread()
		sid, reverted, err := clientSID(windows.Handle(f.Fd()))
		if reverted {
			runtime.UnlockOSThread()
		}
		ch <- result{sid, err}
	}()
	r := <-ch
	return r.sid, r.err
}

// clientSID impersonates the pipe's client on the current (locked) thread,
// reads its user SID and reverts. reverted reports whether the thread is
// itself again.
func clientSID(pipe windows.Handle) (sid string, reverted bool, err error) {
	if r, _, e := procImpersonateNamedPipeClient.Call(uintptr(pipe)); r == 0 {
		return "", true, fmt.Errorf("impersonating the pipe client: %w", e)
	}
	defer func() { reverted = windows.RevertToSelf() == nil }()
	var tok windows.Token
	// openAsSelf: open the thread token with the agent's own rights; an
	// identification-level token cannot open objects itself.
	if err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok); err != nil {
		return "", false, fmt.Errorf("reading the pipe client's token (anonymous connections are refused): %w", err)
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return "", false, fmt.Errorf("reading the pipe client's user: %w", err)
	}
	return tu.User.Sid.String(), false, nil
}
