// Package atomicfile writes files that hold state so that a crash at any
// moment leaves either the old or the new content, never a mix: temp file in
// the same directory, write, fsync, rename, fsync the directory (on Windows,
// where a directory cannot be fsynced, the rename is write-through instead).
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Write replaces path with data, created with perm (0600 for anything that
// holds state or secrets). The parent directory must exist.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

// Create writes path like Write but never replaces an existing file: it
// returns an error wrapping fs.ErrExist instead. It suits things that must
// be created once, such as an identity.
func Create(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

// tempPrefix is how the temporary files of path begin; RemoveTemps finds
// them by it.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// RemoveTemps removes the temporary files a write of path left behind when
// its process was killed before the rename, and returns how many it removed.
// Only the single writer of path may call it: it would remove a write in
// flight.
func RemoveTemps(path string) (int, error) {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("atomicfile: %w", err)
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("atomicfile: %w", err)
		}
		n++
	}
	return n, nil
}

func write(path string, data []byte, perm os.FileMode, noReplace bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	tmp := f.Name()
	// After a rename the temp name is gone; after a link or a failure it
	// must be removed.
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.Close()
		return fmt.Errorf("atomicfile: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("atomicfile: syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if noReplace {
		// A hard link fails atomically when the target exists; where links
		// are not supported, check and rename.
		err := os.Link(tmp, path)
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("atomicfile: %s: %w", path, fs.ErrExist)
		default:
			if _, statErr := os.Lstat(path); statErr == nil {
				return fmt.Errorf("atomicfile: %s: %w", path, fs.ErrExist)
			}
			if err := rename(tmp, path); err != nil {
				return fmt.Errorf("atomicfile: %w", err)
			}
		}
	} else if err := rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return SyncDir(dir)
}
