package agentapi_test

import (
	"context"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/protocol"
)

// BenchmarkQUICFlood measures a legitimate agent's registration (dial,
// HELLO, REGISTER on a new connection) while the broker is flooded with
// junk Initials (floodRate a second, as from spoofed addresses) and
// holders connections each keep every stream they may open half-written.
// With Retry (the broker's default gate) the junk costs no state; without
// it (retry=off, the gate never asks) every junk Initial holds a half-open
// connection for the handshake timeout. Figures: registration p50/p99,
// peak heap in use above the idle broker's, and peak half-open handshakes.
//
//	go test -run '^$' -bench BenchmarkQUICFlood -benchtime 200x ./broker/agentapi/
func BenchmarkQUICFlood(b *testing.B) {
	for _, c := range []struct {
		name       string
		retryAbove int
	}{{"retry=on", 0}, {"retry=off", 1 << 30}} {
		b.Run(c.name, func(b *testing.B) { benchFlood(b, c.retryAbove) })
	}
}

const (
	floodRate = 2000 // junk Initials a second
	holders   = 20   // connections holding all their streams
)

func benchFlood(b *testing.B, retryAbove int) {
	gate := agentapi.NewHandshakeGate(retryAbove)
	s := newGatedServer(b, gate, nil)
	runtime.GC()
	base := heapInUse()

	for range holders {
		conn := registerAgent(b, s, agentTLS())
		defer conn.CloseWithError(0, "")
		for i := 1; i < agentapi.MaxStreams; i++ {
			str, err := conn.OpenStream()
			if err != nil {
				b.Fatal(err)
			}
			str.Write([]byte{byte(protocol.TypeLogin)})
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var peakHeap uint64
	var peakHalfOpen int64
	wg.Go(func() { flood(ctx, b, s.addr) })
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			peakHeap = max(peakHeap, heapInUse())
			peakHalfOpen = max(peakHalfOpen, gate.InProgress())
		}
	})
	// Let the flood build up for a handshake timeout: the state it leaves
	// without Retry is then at its steady size.
	waitFor := time.Now().Add(agentapi.HandshakeTimeout)
	for time.Now().Before(waitFor) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}

	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		conn := registerAgent(b, s, agentTLS())
		lat = append(lat, time.Since(start))
		conn.CloseWithError(0, "")
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(peakHeap-min(base, peakHeap))/(1<<20), "heap-MiB")
	b.ReportMetric(float64(peakHalfOpen), "half-open-max")
	b.ReportMetric(float64(gate.Retries()), "retries")
}

// flood sends junk Initials to addr at floodRate until ctx ends.
func flood(ctx context.Context, b *testing.B, addr *net.UDPAddr) {
	c, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		b.Error(err)
		return
	}
	defer c.Close()
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range floodRate / int(time.Second/tick) {
			c.Write(junkInitial())
		}
	}
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
