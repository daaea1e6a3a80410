//go:build race

package registry_test

// raceEnabled: the race detector slows the store tenfold; tests of volume
// (thousands of registrations) run without it, their concurrency being
// covered by smaller tests that do run under it.
const raceEnabled = true
