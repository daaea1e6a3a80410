package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/protocol"
)

// opTimeout bounds one operation of a simulated agent (dial, register,
// login, waiting for a push).
const opTimeout = 30 * time.Second

// maxAttempts bounds how often one connection is tried when the server
// refuses it: quic-go refuses a handshake (CONNECTION_REFUSED) while its
// queue of 32 connections not yet accepted is full. An agent retries too.
const maxAttempts = 5

// refused reports whether err is a server's CONNECTION_REFUSED.
func refused(err error) bool {
	var te *quic.TransportError
	return errors.As(err, &te) && te.ErrorCode == quic.ConnectionRefused
}

// retryRefused calls dial until it succeeds, fails otherwise than by a
// refusal, or has been refused maxAttempts times; it counts refusals.
func retryRefused(ctx context.Context, count *atomic.Int64, dial func() error) error {
	for attempt := 1; ; attempt++ {
		err := dial()
		if err == nil || !refused(err) || attempt == maxAttempts {
			return err
		}
		count.Add(1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

// warmups is how many untimed connections warm each server up first.
const warmups = 16

// loginUsers is how many distinct users the session logins name; each is
// created by its first login, before the timed phase.
const loginUsers = 64

// bench is one run.
type bench struct {
	cfg    config
	stderr io.Writer
	tty    bool
	work   string // temporary directory of this run
	rep    *Report
	cref   *cryptoRef // the login ratio's reference, sampled over the run

	bareRefused, brokerRefused atomic.Int64
	failures                   atomic.Int64 // operations that failed within the budget
}

// budget is how many of n operations may fail before a phase fails: 1%.
// Failures are counted in the report; rates count successes only.
func budget(n int) int { return n / 100 }

// pool runs a phase's operations with the failure budget and reports
// failures within it.
func (b *bench) pool(ctx context.Context, what string, n, conc int, p *progress, fn func(ctx context.Context, i int) error) (poolResult, error) {
	res, err := runPool(ctx, n, conc, budget(n), p, fn)
	if p != nil {
		p.finish()
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", what, err)
	}
	b.failed(what, res.failed, res.first)
	return res, nil
}

// failed counts n failures of what, within budget, and says so.
func (b *bench) failed(what string, n int, first error) {
	if n == 0 {
		return
	}
	b.failures.Add(int64(n))
	b.logf("%s: %d failed (within the 1%% budget), first: %v", what, n, first)
}

// succeeded returns the durations of successful operations (non-zero).
func succeeded(ds []time.Duration) []time.Duration {
	out := ds[:0:0]
	for _, d := range ds {
		if d > 0 {
			out = append(out, d)
		}
	}
	return out
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "== "+format+"\n", args...)
}

func (b *bench) progress(name string, total int) *progress {
	return startProgress(b.stderr, b.tty, name, total)
}

// notMeasuredPG is notes.postgres of a run without --store.
const notMeasuredPG = "not measured: no --store (make bench starts a throwaway PostgreSQL server when its binaries are installed, except with --quick)"

// run measures everything, in an order that keeps phases from disturbing
// each other: references first, then one broker for throughput and push
// latency, then a fresh bare server and a fresh broker for memory, then,
// with --store, brokers on PostgreSQL.
func (b *bench) run(ctx context.Context) error {
	r := &b.rep.Results
	b.rep.Notes.Synchronous = "FULL"
	b.rep.Notes.BareServer = "quic-go echo server in a child process: the broker's TLS (1.3, ECDSA P-256 self-signed) and QUIC settings, one open stream per connection"
	b.rep.Notes.MemoryMethod = "RSS (VmRSS) delta of the server process, settled (within 1% for 2 s), from before to after the fleet connected, divided by the fleet size; same method for the broker and the bare server"

	// The broker waits idle while the references run, so each reference is
	// measured just before the phase compared with it: the machine's load
	// from other work changes over minutes.
	if b.cfg.fleetScale {
		return b.fleetScale(ctx)
	}
	b.cref = newCryptoRef()
	b.cref.sample()
	br, err := startBroker(ctx, b.cfg.brokerBin, filepath.Join(b.work, "broker"), "", b.cfg.brokerArgs)
	if err != nil {
		return err
	}
	defer br.stop()
	b.logf("broker %s (pid %d, log %s)", br.addr, br.pid(), br.logPath)
	b.logf("reference: fsync for %v in %s", b.cfg.refTime, b.work)
	fs, err := fsyncRate(b.work, b.cfg.refTime)
	if err != nil {
		return fmt.Errorf("fsync reference: %w", err)
	}
	r.FsyncPerS = fs
	if err := b.bareThroughput(ctx); err != nil {
		return fmt.Errorf("bare quic-go reference: %w", err)
	}
	if err := b.stormAndLogins(ctx, br); err != nil {
		return fmt.Errorf("%w (broker log: %s)", err, br.logPath)
	}
	if err := b.approvals(ctx, br); err != nil {
		return fmt.Errorf("%w (broker log: %s)", err, br.logPath)
	}
	if err := b.eventLatency(ctx, br); err != nil {
		return fmt.Errorf("%w (broker log: %s)", err, br.logPath)
	}
	if err := br.stop(); err != nil {
		return err
	}

	if err := b.memory(ctx); err != nil {
		return err
	}
	if b.cfg.store == "" {
		b.rep.Notes.Postgres = notMeasuredPG
	} else if err := b.postgres(ctx); err != nil {
		return err
	}
	b.cref.sample()
	r.CryptoCPUMsMin, r.CryptoCPUMsMedian, r.CryptoCPUMsMax = b.cref.stats()
	r.CryptoCPUSamples = float64(len(b.cref.ms))
	r.CryptoCPUMs = r.CryptoCPUMsMedian
	if r.CryptoCPUMs == 0 { // no thread clock here
		r.CryptoCPUMs = r.CryptoCPUMsAllCores
	}
	r.RegistrationRatio = ratio(r.RegistrationsPerS, r.HandshakesPerS)
	r.RegistrationsPerFsync = ratio(r.RegistrationsPerS, r.FsyncPerS)
	r.LoginCryptoRatio = ratio(r.LoginsPerS, r.CryptoPerS)
	r.MemRatio = ratio(r.MemPerAgentKiB, r.BareMemPerConnKiB)
	r.RegistrationCPURatio = ratio(r.BareCPUPerHandshakeMs, r.BrokerCPUPerRegisterMs)
	r.LoginCPURatio = ratio(r.CryptoCPUMs, r.BrokerCPUPerLoginMs)
	if b.cfg.store != "" {
		r.PG1RegistrationCPURatio = ratio(r.BareCPUPerHandshakeMs, r.PG1BrokerCPUPerRegisterMs)
		r.PG1LoginCPURatio = ratio(r.CryptoCPUMs, r.PG1BrokerCPUPerLoginMs)
		r.PG3RegistrationCPURatio = ratio(r.BareCPUPerHandshakeMs, r.PG3BrokerCPUPerRegisterMs)
		r.PG3LoginCPURatio = ratio(r.CryptoCPUMs, r.PG3BrokerCPUPerLoginMs)
	}
	r.BareRefused, r.BrokerRefused = float64(b.bareRefused.Load()), float64(b.brokerRefused.Load())
	r.Failures = float64(b.failures.Load())
	return nil
}

// cryptoRate measures Ed25519 sign + verify pairs per second on every core
// and the CPU milliseconds one pair takes: the least crypto a login needs
// (verify the device token, sign the user's).
func cryptoRate(d time.Duration) (perS, cpuMs float64) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300) // about a JWT's signing input
	var total atomic.Int64
	var wg sync.WaitGroup
	cpu0 := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for time.Now().Before(deadline) {
				sig := ed25519.Sign(priv, msg)
				if !ed25519.Verify(pub, msg, sig) {
					panic("ed25519 verify failed")
				}
				n++
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	n := int(total.Load())
	if n > 0 {
		cpuMs = round(float64(selfCPU()-cpu0)/float64(time.Millisecond)/float64(n), 4)
	}
	return perSec(n, time.Since(start)), cpuMs
}

// fsyncRate measures 4 KiB writes each followed by fsync in dir.
func fsyncRate(dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.WriteAt(buf, int64(n%256)*4096); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		n++
	}
	return perSec(n, time.Since(start)), nil
}

// localTransport opens a client QUIC transport on a UDP socket on
// 127.0.0.1. closeFn closes both and may be called more than once.
func localTransport() (tr *quic.Transport, closeFn func(), err error) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	tr = &quic.Transport{Conn: udp}
	return tr, sync.OnceFunc(func() {
		tr.Close()
		udp.Close()
	}), nil
}

// bareThroughput measures bare quic-go handshakes (N connections at the
// same concurrency as the registration storm, held open) and round trips on
// their open streams.
func (b *bench) bareThroughput(ctx context.Context) error {
	r := &b.rep.Results
	e, err := startEcho(ctx)
	if err != nil {
		return err
	}
	defer e.stop()
	tr, closeTr, err := localTransport()
	if err != nil {
		return err
	}
	defer closeTr()

	if err := b.bareWarmup(ctx, tr, e); err != nil {
		return err
	}
	n := b.cfg.agents
	conns := make([]*bareConn, n)
	defer closeBare(conns)
	lat := make([]time.Duration, n)
	b.logf("bare quic-go: %d handshakes, %d at a time", n, b.cfg.conc)
	cpu := startCPU(e.pid())
	res, err := b.pool(ctx, "bare handshakes", n, b.cfg.conc, b.progress("bare handshakes", n), func(ctx context.Context, i int) error {
		ctx, cancel := within(ctx, opTimeout)
		defer cancel()
		t0 := time.Now()
		err := retryRefused(ctx, &b.bareRefused, func() (err error) {
			conns[i], err = dialBare(ctx, tr, e)
			return err
		})
		if err == nil {
			lat[i] = time.Since(t0)
		}
		return err
	})
	if err != nil {
		return err
	}
	r.HandshakesPerS = perSec(res.ok, res.busy)
	r.BareCPUPerHandshakeMs, r.AgentsCPUPerHandshakeMs = cpu.perOp(res.ok)
	l := summarize(succeeded(lat))
	r.HandshakeP50Ms, r.HandshakeP99Ms = ms(l.p50), ms(l.p99)
	open := conns[:0:0]
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	b.rep.Notes.BareKeyExchange = open[0].qc.ConnectionState().TLS.CurveID.String()

	k := min(b.cfg.conc, len(open))
	b.logf("bare quic-go: round trips on %d open streams for %v", k, b.cfg.refTime)
	var total atomic.Int64
	rctx, cancel := within(ctx, b.cfg.refTime+opTimeout)
	defer cancel()
	deadline := time.Now().Add(b.cfg.refTime)
	start := time.Now()
	_, err = runPool(rctx, k, k, 0, nil, func(ctx context.Context, i int) error {
		msg := make([]byte, 64)
		c := open[i]
		c.s.SetDeadline(deadline.Add(opTimeout))
		cnt := int64(0)
		for time.Now().Before(deadline) {
			if err := c.roundTrip(context.Background(), msg); err != nil {
				return err
			}
			cnt++
		}
		total.Add(cnt)
		return nil
	})
	if err != nil {
		return fmt.Errorf("round trips: %w", err)
	}
	r.RoundTripsPerS = perSec(int(total.Load()), time.Since(start))
	return nil
}

func (b *bench) bareWarmup(ctx context.Context, tr *quic.Transport, e *echoProc) error {
	conns := make([]*bareConn, warmups)
	defer closeBare(conns)
	_, err := runPool(ctx, warmups, warmups, 0, nil, func(ctx context.Context, i int) error {
		ctx, cancel := within(ctx, opTimeout)
		defer cancel()
		return retryRefused(ctx, &b.bareRefused, func() (err error) {
			conns[i], err = dialBare(ctx, tr, e)
			return err
		})
	})
	return err
}

func closeBare(conns []*bareConn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}

// memory connects the idle fleet to a fresh bare server and to a fresh
// broker and reads each process's memory before and after.
//
// It is long because the bare reference and the broker are measured in
// strict sequence, each freed before the next, as the figures require.
func (b *bench) memory(ctx context.Context) error {
	r := &b.rep.Results
	n := b.cfg.fleet

	e, err := startEcho(ctx)
	if err != nil {
		return err
	}
	defer e.stop()
	tr, closeTr, err := localTransport()
	if err != nil {
		return err
	}
	defer closeTr() // early returns; closed explicitly before the broker starts
	if err := b.bareWarmup(ctx, tr, e); err != nil {
		return err
	}
	b.logf("bare quic-go fleet: %d idle connections", n)
	before, err := settledRSS(ctx, e.pid())
	if err != nil {
		return err
	}
	conns := make([]*bareConn, n)
	res, err := b.pool(ctx, "bare fleet", n, b.cfg.conc, b.progress("bare connections", n), func(ctx context.Context, i int) error {
		ctx, cancel := within(ctx, opTimeout)
		defer cancel()
		return retryRefused(ctx, &b.bareRefused, func() (err error) {
			conns[i], err = dialBare(ctx, tr, e)
			return err
		})
	})
	if err != nil {
		closeBare(conns)
		return err
	}
	after, err := settledRSS(ctx, e.pid())
	if err == nil {
		heap, stack, gs, merr := e.runtimeMemory()
		if merr != nil {
			err = merr
		}
		k := float64(res.ok) * 1024
		r.BareHeapPerConnKiB, r.BareStackPerConnKiB = round(float64(heap)/k, 2), round(float64(stack)/k, 2)
		b.logf("bare server after a GC: heap in use %.1f KiB/conn, stacks %.1f KiB/conn, %d goroutines", float64(heap)/k, float64(stack)/k, gs)
	}
	closeBare(conns)
	closeTr()
	e.stop()
	if err != nil {
		return err
	}
	r.BareRSSIdleMiB, r.BareRSSFleetMiB = round(float64(before)/1024, 1), round(float64(after)/1024, 1)
	r.BareMemPerConnKiB = round(float64(after-before)/float64(res.ok), 2)

	br, err := startBroker(ctx, b.cfg.brokerBin, filepath.Join(b.work, "broker-fleet"), "", b.cfg.brokerArgs)
	if err != nil {
		return err
	}
	defer br.stop()
	key, err := br.createKey(ctx, "bench-fleet", true)
	if err != nil {
		return err
	}
	f, err := newFleet(br)
	if err != nil {
		return err
	}
	warm := newAgents(warmups)
	if _, _, _, err := b.register(ctx, f, warm, key, protocol.StateTrusted, "warm-up"); err != nil {
		f.close()
		return fmt.Errorf("warm-up registrations: %w", err)
	}
	f.close()
	if f, err = newFleet(br); err != nil {
		return err
	}
	b.logf("broker fleet: %d idle agents (pid %d, log %s)", n, br.pid(), br.logPath)
	before, err = settledRSS(ctx, br.pid())
	if err != nil {
		return err
	}
	agents := newAgents(n)
	defer f.close()
	connected, _, _, err := b.register(ctx, f, agents, key, protocol.StateTrusted, "agents connected")
	if err != nil {
		return fmt.Errorf("broker fleet: %w (broker log: %s)", err, br.logPath)
	}
	after, err = settledRSS(ctx, br.pid())
	if err != nil {
		return err
	}
	r.BrokerRSSIdleMiB, r.BrokerRSSFleetMiB = round(float64(before)/1024, 1), round(float64(after)/1024, 1)
	r.MemPerAgentKiB = round(float64(after-before)/float64(len(connected)), 2)
	if b.cfg.hold > 0 {
		b.logf("holding the fleet connected for %v (broker pid %d)", b.cfg.hold, br.pid())
		select {
		case <-time.After(b.cfg.hold):
		case <-ctx.Done():
		}
	}
	return nil
}
