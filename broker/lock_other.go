//go:build !unix

package broker

// lockDataDir is a no-op where the broker is not built (it runs on Linux;
// see docs/platforms.md): the package still compiles there.
func lockDataDir(string) (func(), error) { return func() {}, nil }
