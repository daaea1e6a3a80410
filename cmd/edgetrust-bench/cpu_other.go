//go:build !unix

package main

import "time"

// selfCPU returns 0 where getrusage does not exist: the agents' CPU per
// operation then reads 0.
func selfCPU() time.Duration { return 0 }
