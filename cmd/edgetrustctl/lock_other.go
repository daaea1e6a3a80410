//go:build !unix

package main

// lockFile is a no-op where flock is unavailable: concurrent commands may
// then race to refresh one session.
func lockFile(string) (func(), error) { return func() {}, nil }
