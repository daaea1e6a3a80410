package main

import (
	"crypto/ed25519"
	"runtime"
	"slices"
	"time"
)

// The Ed25519 reference of the login ratio (issue 17, point 6).
//
// Process CPU over every core (cryptoRate) read 0.18 ms per verify+sign in
// one run and 0.077 ms in another on the same machine: it counted the
// bench's other goroutines, and a single sample caught whatever the VM's
// neighbours did at that moment. The reference of login_cpu_ratio is
// therefore the CPU time of the one OS thread that does the work
// (LockOSThread + CLOCK_THREAD_CPUTIME_ID), taken in several short samples
// spread over the run — before the bare reference, around the registration
// storm and the logins, and at the end — and the ratio uses their median.
// The JSON shows min, median and max so a reader sees how much the
// denominator moved.

// cryptoSampleTime is the length of one sample; cryptoSamplesEach how many
// samples each point of the run takes.
const (
	cryptoSampleTime  = 150 * time.Millisecond
	cryptoSamplesEach = 3
)

// cryptoRef collects the thread-CPU samples of one run.
type cryptoRef struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	msg  []byte
	ms   []float64 // thread CPU milliseconds per verify+sign, one per sample
}

func newCryptoRef() *cryptoRef {
	pub, priv, _ := ed25519.GenerateKey(nil)
	return &cryptoRef{pub: pub, priv: priv, msg: make([]byte, 300)} // about a JWT's signing input
}

// sample takes cryptoSamplesEach samples now.
func (c *cryptoRef) sample() {
	for range cryptoSamplesEach {
		if ms, ok := c.one(cryptoSampleTime); ok {
			c.ms = append(c.ms, ms)
		}
	}
}

// one runs verify+sign pairs on one locked OS thread for about d and
// returns the thread's CPU milliseconds per pair; false when the thread's
// clock cannot be read here.
func (c *cryptoRef) one(d time.Duration) (float64, bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, ok := threadCPU()
	if !ok {
		return 0, false
	}
	n := 0
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		for range 16 {
			sig := ed25519.Sign(c.priv, c.msg)
			if !ed25519.Verify(c.pub, c.msg, sig) {
				panic("ed25519 verify failed")
			}
		}
		n += 16
	}
	t1, _ := threadCPU()
	return float64(t1-t0) / float64(time.Millisecond) / float64(n), true
}

// stats returns the samples' min, median and max, rounded like every CPU
// figure; zeros when there is none.
func (c *cryptoRef) stats() (lo, med, hi float64) {
	if len(c.ms) == 0 {
		return 0, 0, 0
	}
	s := slices.Sorted(slices.Values(c.ms))
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return round(s[0], 4), round(m, 4), round(s[len(s)-1], 4)
}
