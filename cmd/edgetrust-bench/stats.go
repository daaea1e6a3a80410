package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It sorts ds in place and returns 0 for an empty slice.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	rank = min(max(rank, 1), len(ds))
	return ds[rank-1]
}

// latency summarises a set of durations.
type latency struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	return latency{n: len(ds), p50: percentile(ds, 50), p99: percentile(ds, 99), max: percentile(ds, 100)}
}

// ms returns d in milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// perSec returns n events over d as a rate.
func perSec(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round(float64(n)/d.Seconds(), 1)
}

// ratio returns a/b rounded to three decimals, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round(a/b, 3)
}

func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}
