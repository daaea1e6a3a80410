//go:build !linux

package main

import "time"

// threadCPU is not measured here: the reference falls back to process CPU
// (cryptoRate).
func threadCPU() (time.Duration, bool) { return 0, false }
