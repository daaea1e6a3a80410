package atomicfile

// SyncDir is a no-op on Windows: a directory cannot be opened for fsync
// there, and NTFS journals the rename itself.
func SyncDir(string) error { return nil }
