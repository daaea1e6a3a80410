package atomicfile

import (
	"os"

	"golang.org/x/sys/windows"
)

// SyncDir is a no-op on Windows: a directory cannot be opened for fsync
// there, and NTFS journals the rename itself.
func SyncDir(string) error { return nil }

// rename replaces newpath with oldpath atomically. Unlike os.Rename it asks
// for MOVEFILE_WRITE_THROUGH, so the rename is on disk when it returns: the
// durability a directory fsync gives elsewhere.
func rename(oldpath, newpath string) error {
	from, err := windows.UTF16PtrFromString(oldpath)
	if err != nil {
		return err
	}
	to, err := windows.UTF16PtrFromString(newpath)
	if err != nil {
		return err
	}
	if err := windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
