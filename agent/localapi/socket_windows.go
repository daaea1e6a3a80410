//go:build windows

package localapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// DefaultSocket is the named pipe when Config.Socket is empty.
const DefaultSocket = `\\.\pipe\edgetrust-agent`

// clientAccess is what any signed-in user may do with the pipe: read and
// write data. FILE_CREATE_PIPE_INSTANCE (the FILE_APPEND_DATA bit, part of
// GENERIC_WRITE) is withheld, so no other user can add a server instance of
// this pipe and answer logins in the agent's place.
const clientAccess = windows.FILE_GENERIC_READ | windows.FILE_WRITE_DATA

// listen creates the named pipe. SYSTEM, administrators and the agent's own
// user have full access; authenticated users (never anonymous callers) get
// clientAccess. go-winio rejects remote clients and refuses a pipe name that
// already exists.
func listen(path string) (net.Listener, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("reading the agent's own user: %w", err)
	}
	sddl := fmt.Sprintf("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;%s)(A;;0x%x;;;AU)", tu.User.Sid, uint32(clientAccess))
	ln, err := winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: sddl})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w; is another agent serving it? stop it or choose another --socket", path, err)
	}
	return ln, nil
}

// removeSocket has nothing to do: a named pipe disappears with its last
// handle.
func removeSocket(string) error { return nil }

// Dial connects to the agent's named pipe at path. It allows the agent to
// identify the caller (SECURITY_IDENTIFICATION: the agent may read who the
// caller is, never act as them) and refuses a pipe that is not owned by
// SYSTEM, the administrators or the caller itself: a pipe another user
// created first is not the agent.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := winio.DialPipeAccessImpLevel(ctx, path, uint32(clientAccess), winio.PipeImpLevelIdentification)
	if err != nil {
		return nil, err
	}
	if err := checkOwner(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func checkOwner(c net.Conn) error {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return errors.New("not a named pipe connection")
	}
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the pipe's owner: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("reading the pipe's owner: %v", err)
	}
	if owner.IsWellKnown(windows.WinLocalSystemSid) || owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
		return nil
	}
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err == nil && owner.Equals(tu.User.Sid) {
		return nil
	}
	return fmt.Errorf("the pipe is owned by %s, not by SYSTEM or the administrators: it is not the edgetrust agent", owner)
}
