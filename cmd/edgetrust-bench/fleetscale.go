package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/agent"
	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/agent/reconnect"
	"github.com/edgetrust/edgetrust/protocol"
)

// --fleet-scale (issue 17, points 3 and 4): the idle fleet at the size of
// a large site on one broker, against bare quic-go, and a broker restarted
// under a connected fleet whose agents reconnect with the agent's own loop
// and backoff (package agent/reconnect). Minutes long: never part of
// --quick or of make bench.
//
// The open-file limit (about 20,000 here) is no limit on connections: the
// client side spreads them over --per-socket connections per UDP socket,
// each socket one quic.Transport multiplexing its connections; the servers
// have one socket each.

// fleetScale runs both measures, each on its own server process. A phase
// that fails is reported in notes.fleet_scale, and the run goes on: the
// figures of the other stand (an interrupted run fails).
func (b *bench) fleetScale(ctx context.Context) error {
	var failed []string
	for _, phase := range []func(context.Context) error{b.scaleMemory, b.reconnectStorm} {
		if err := phase(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.logf("%v", err)
			failed = append(failed, err.Error())
		}
	}
	b.rep.Notes.FleetScale = strings.Join(failed, "; ")
	return nil
}

// sockets returns how many client sockets n connections use.
func (b *bench) sockets(n int) int { return (n + b.cfg.perSocket - 1) / b.cfg.perSocket }

// freeSelf returns this process's freed memory to the system, so that a
// phase does not run with the last one's garbage.
func freeSelf() {
	runtime.GC()
	debug.FreeOSMemory()
}

// scaleMemory measures --scale-agents idle connections on a fresh bare
// server, frees everything, then as many registered idle agents on a
// fresh broker: RSS settled before and after, and the peak (VmHWM).
//
// It is long because the two phases run in strict sequence, each freed
// before the next, as the figures require.
func (b *bench) scaleMemory(ctx context.Context) error {
	r := &b.rep.Results
	n := b.cfg.scaleAgents
	nsock := b.sockets(n)
	r.ScaleAgents, r.ScaleSockets = float64(n), float64(nsock)
	ka := fleetKeepAlive(b.cfg.scaleKeepAlive)
	r.ScaleKeepAliveS = b.cfg.scaleKeepAlive.Seconds()
	if ka.period == 0 {
		r.ScaleKeepAliveS = brokerclient.DefaultKeepAlive.Seconds()
	}

	e, err := startEcho(ctx)
	if err != nil {
		return err
	}
	defer e.stop()
	trs := make([]*quic.Transport, nsock)
	closers := make([]func(), 0, nsock)
	closeAll := func() {
		for _, c := range closers {
			c()
		}
		closers = closers[:0]
	}
	defer closeAll()
	for i := range trs {
		tr, c, err := localTransport()
		if err != nil {
			return err
		}
		trs[i] = tr
		closers = append(closers, c)
	}
	if err := b.bareWarmup(ctx, trs[0], e); err != nil {
		return err
	}
	b.logf("fleet scale, bare quic-go: %d idle connections over %d client sockets, keep-alive %gs", n, nsock, r.ScaleKeepAliveS)
	before, err := settledRSS(ctx, e.pid())
	if err != nil {
		return err
	}
	conns := make([]*bareConn, n)
	var retried atomic.Int64
	res, err := b.pool(ctx, "bare fleet at scale", n, b.cfg.conc, b.progress("bare connections", n), func(ctx context.Context, i int) error {
		return retryScale(ctx, &retried, func(ctx context.Context) error {
			return retryRefused(ctx, &b.bareRefused, func() (err error) {
				conns[i], err = dialBareWith(ctx, trs[i%nsock], e, ka)
				return err
			})
		})
	})
	if err != nil {
		closeBare(conns)
		return err
	}
	after, err := settledRSS(ctx, e.pid())
	peak := peakRSSKiB(e.pid())
	closeBare(conns)
	closeAll()
	e.stop()
	conns = nil
	freeSelf()
	if err != nil {
		return err
	}
	r.ScaleBareRSSIdleMiB, r.ScaleBareRSSFleetMiB = round(float64(before)/1024, 1), round(float64(after)/1024, 1)
	r.ScaleBarePeakMiB = round(float64(peak)/1024, 1)
	r.ScaleBareMemPerConnKiB = round(float64(after-before)/float64(res.ok), 2)

	br, err := startBroker(ctx, b.cfg.brokerBin, filepath.Join(b.work, "broker-scale"), "", b.cfg.brokerArgs)
	if err != nil {
		return err
	}
	defer br.stop()
	key, err := br.createKey(ctx, "bench-scale", true)
	if err != nil {
		return err
	}
	fleets, err := newFleets(br, nsock)
	if err != nil {
		return err
	}
	defer closeFleets(fleets)
	for _, fl := range fleets {
		fl.ka = ka
	}
	if _, _, _, err := b.register(ctx, fleets[0], newAgents(warmups), key, protocol.StateTrusted, "warm-up"); err != nil {
		return fmt.Errorf("warm-up registrations: %w", err)
	}
	b.logf("fleet scale, broker: %d idle agents over %d client sockets (pid %d, log %s)", n, nsock, br.pid(), br.logPath)
	before, err = settledRSS(ctx, br.pid())
	if err != nil {
		return err
	}
	agents := newAgents(n)
	res, err = b.pool(ctx, "broker fleet at scale", n, b.cfg.conc, b.progress("agents connected", n), func(ctx context.Context, i int) error {
		a := agents[i]
		err := retryScale(ctx, &retried, func(ctx context.Context) error {
			return retryRefused(ctx, &b.brokerRefused, func() error { return fleets[i%nsock].connect(ctx, a, key, i) })
		})
		if err != nil {
			return err
		}
		if a.state != protocol.StateTrusted {
			return fmt.Errorf("registered as %s, want trusted", a.state)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("broker fleet at scale: %w (broker log: %s)", err, br.logPath)
	}
	r.ScaleRegistrationsPerS = perSec(res.ok, res.busy)
	r.ScaleRetried = float64(retried.Load())
	after, err = settledRSS(ctx, br.pid())
	if err != nil {
		return err
	}
	peak = peakRSSKiB(br.pid())
	r.ScaleBrokerAgents = float64(res.ok)
	r.ScaleBrokerRSSIdleMiB, r.ScaleBrokerRSSFleetMiB = round(float64(before)/1024, 1), round(float64(after)/1024, 1)
	r.ScaleBrokerPeakMiB = round(float64(peak)/1024, 1)
	r.ScaleMemPerAgentKiB = round(float64(after-before)/float64(res.ok), 2)
	r.ScaleMemRatio = ratio(r.ScaleMemPerAgentKiB, r.ScaleBareMemPerConnKiB)
	if b.cfg.hold > 0 {
		b.logf("holding the fleet connected for %v (broker pid %d)", b.cfg.hold, br.pid())
		select {
		case <-time.After(b.cfg.hold):
		case <-ctx.Done():
		}
	}
	closeFleets(fleets)
	agents = nil
	freeSelf()
	return br.stop()
}

// scaleAttempts bounds the tries of one connection of the idle fleet at
// scale: with tens of thousands connected, the bench's own process (every
// agent's side) is short of CPU and a handshake may time out; an agent
// would try again, and so does the bench, up to this many times.
const scaleAttempts = 3

// retryScale runs dial, each try within opTimeout, until it succeeds or
// scaleAttempts tries have failed; retried counts the tries after a failure.
func retryScale(ctx context.Context, retried *atomic.Int64, dial func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		tctx, cancel := within(ctx, opTimeout)
		err := dial(tctx)
		cancel()
		if err == nil || attempt == scaleAttempts || ctx.Err() != nil {
			return err
		}
		retried.Add(1)
	}
}

// newFleets opens n fleets (one UDP socket each) on br.
func newFleets(br *brokerProc, n int) ([]*fleet, error) {
	fleets := make([]*fleet, 0, n)
	for range n {
		f, err := newFleet(br)
		if err != nil {
			closeFleets(fleets)
			return nil, err
		}
		fleets = append(fleets, f)
	}
	return fleets, nil
}

func closeFleets(fleets []*fleet) {
	var wg sync.WaitGroup
	for _, f := range fleets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.close()
		}()
	}
	wg.Wait()
}

// peakRSSKiB returns pid's peak resident set (VmHWM), 0 where unknown.
func peakRSSKiB(pid int) int64 {
	v := procField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM", ":")
	if v == "" {
		return 0
	}
	n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
	return n
}

// stormAgent is one agent of the reconnect storm: the times (UnixNano) it
// was trusted again and logged in again after the restart, and its
// sessions since.
type stormAgent struct {
	sim              *simAgent
	trusted, loginAt atomic.Int64
	ready            atomic.Bool // trusted and logged in before the restart
	sessions         atomic.Int64
}

// stormWait bounds each wait of the storm: the initial connections, and
// the return of every agent after the restart.
const stormWait = 10 * time.Minute

// reconnectStorm connects --storm-agents agents to a fresh broker, each
// running reconnect.Loop (the agent's loop and backoff, its default
// delays) around one session: dial, HELLO, REGISTER, one session login,
// then wait until the connection ends. Once all are in, the broker is
// stopped and started again on the same data directory and address; the
// bench samples the broker process's CPU every second and records when
// each agent is trusted again and has logged in again.
//
// It is long because it is one timeline: connect, restart, watch, stop.
func (b *bench) reconnectStorm(ctx context.Context) error {
	r := &b.rep.Results
	n := b.cfg.stormAgents
	nsock := b.sockets(n)
	r.StormAgents = float64(n)
	br, err := startBroker(ctx, b.cfg.brokerBin, filepath.Join(b.work, "broker-storm"), "", b.cfg.brokerArgs)
	if err != nil {
		return err
	}
	defer func() { br.stop() }()
	key, err := br.createKey(ctx, "bench-storm", true)
	if err != nil {
		return err
	}
	fleets, err := newFleets(br, nsock)
	if err != nil {
		return err
	}
	defer closeFleets(fleets)

	var restartAt atomic.Int64 // UnixNano when the restart began; 0 before
	var ready, back atomic.Int64
	agents := make([]*stormAgent, n)
	for i, a := range newAgents(n) {
		agents[i] = &stormAgent{sim: a}
	}
	// The fleet's first connections are admitted --concurrency at a time,
	// as in the registration storm: 10,000 agents started in the same
	// half-second overran this loaded machine (both sides' socket buffers
	// full and dropping, every handshake timing out, none in after two
	// minutes). The restart is not paced: that herd is what is measured.
	admit := make(chan struct{}, b.cfg.conc)
	session := func(ctx context.Context, i int) (time.Time, error) {
		sa, f := agents[i], fleets[i%nsock]
		took := false // one of admit's places
		if restartAt.Load() != 0 {
			sa.sessions.Add(1)
		} else {
			select {
			case admit <- struct{}{}:
				took = true
			case <-ctx.Done():
				return time.Time{}, ctx.Err()
			}
		}
		release := func() {
			if took {
				<-admit
				took = false
			}
		}
		defer release()
		dctx, cancel := within(ctx, opTimeout)
		defer cancel()
		c, err := brokerclient.Dial(dctx, brokerclient.Config{
			Addr: f.brokers[0].addr, TLS: f.tls, Key: sa.sim.key, ClientID: sa.sim.id, Transport: f.tr, Software: "edgetrust-bench",
		})
		if err != nil {
			return time.Time{}, err
		}
		defer c.Close()
		reg, err := c.Register(dctx, protocol.Register{
			APIKey: key, ClientType: protocol.ClientDesktop, Hostname: fmt.Sprintf("storm-%05d", i), OS: "linux", Version: "bench",
		})
		release()
		if err != nil {
			return time.Time{}, err
		}
		registeredAt := time.Now()
		if reg.State != protocol.StateTrusted || reg.Tokens == nil {
			return registeredAt, fmt.Errorf("registered as %s without a device token", reg.State)
		}
		after := restartAt.Load() != 0
		if after {
			sa.trusted.CompareAndSwap(0, registeredAt.UnixNano())
		}
		if _, err := c.Login(dctx, protocol.Login{APIKey: key, DeviceToken: reg.Tokens.AccessToken,
			Type: protocol.LoginSessionUser, Username: fmt.Sprintf("storm-user-%03d", i%loginUsers)}); err != nil {
			return registeredAt, err
		}
		switch {
		case after && sa.loginAt.CompareAndSwap(0, time.Now().UnixNano()):
			back.Add(1)
		case !after && sa.ready.CompareAndSwap(false, true):
			ready.Add(1)
		}
		select {
		case <-c.Done():
			return registeredAt, c.Err()
		case <-ctx.Done():
			return registeredAt, ctx.Err()
		}
	}
	sctx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopAgents()
		wg.Wait()
	}()
	b.logf("reconnect storm: %d agents over %d client sockets connect through reconnect.Loop (min %v, max %v)", n, nsock, agent.DefaultMinBackoff, agent.DefaultMaxBackoff)
	for i := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop := reconnect.Loop{Min: agent.DefaultMinBackoff, Max: agent.DefaultMaxBackoff}
			loop.Run(sctx, func(ctx context.Context) (time.Time, error) { return session(ctx, i) })
		}()
	}
	if err := waitCount(ctx, &ready, n, stormWait, b.progress("agents in", n)); err != nil {
		return fmt.Errorf("reconnect storm: connecting: %w (broker log: %s)", err, br.logPath)
	}

	b.logf("reconnect storm: restarting the broker under %d agents", n)
	t0 := time.Now()
	restartAt.Store(t0.UnixNano())
	cpu := &cpuSeries{}
	cpu.follow(br.pid())
	stopSampling := cpu.sample(time.Second)
	nb, killed, stopped, err := br.restart(ctx, b.cfg.brokerBin, b.cfg.brokerArgs)
	if err != nil {
		stopSampling()
		return fmt.Errorf("reconnect storm: restarting the broker: %w", err)
	}
	br = nb
	cpu.follow(br.pid())
	r.StormRestartS = round(time.Since(t0).Seconds(), 3)
	r.StormStopS = round(stopped.Sub(t0).Seconds(), 3)
	if killed {
		r.StormStopKilled = 1
		b.logf("reconnect storm: the broker did not stop within 15 s of SIGTERM under %d agents; killed", n)
	}
	werr := waitCount(ctx, &back, n, stormWait, b.progress("agents back", n))
	series, total := stopSampling()
	r.StormBrokerCPUPerS, r.StormBrokerCPUS = series, total
	var trusted, logins []time.Duration
	maxSessions := int64(0)
	for _, sa := range agents {
		if t := sa.trusted.Load(); t != 0 {
			trusted = append(trusted, time.Duration(t-t0.UnixNano()))
		}
		if t := sa.loginAt.Load(); t != 0 {
			logins = append(logins, time.Duration(t-t0.UnixNano()))
		}
		maxSessions = max(maxSessions, sa.sessions.Load())
	}
	r.StormBack, r.StormMaxSessions = float64(back.Load()), float64(maxSessions)
	r.StormTrusted99S, r.StormTrusted100S = quantileS(trusted, n, 0.99), quantileS(trusted, n, 1)
	r.StormLogin99S, r.StormLogin100S = quantileS(logins, n, 0.99), quantileS(logins, n, 1)
	if werr != nil {
		return fmt.Errorf("reconnect storm: %d of %d agents back: %w (broker log: %s)", back.Load(), n, werr, br.logPath)
	}
	return nil
}

// quantileS is the time by which fraction q of n agents had done it, in
// seconds; 0 when fewer did.
func quantileS(ds []time.Duration, n int, q float64) float64 {
	k := int(float64(n)*q+0.999999) - 1
	if k < 0 || k >= len(ds) {
		return 0
	}
	slices.Sort(ds)
	return round(ds[k].Seconds(), 3)
}

// waitCount waits until c reaches n, showing progress, for at most d.
func waitCount(ctx context.Context, c *atomic.Int64, n int, d time.Duration, p *progress) error {
	defer p.finish()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		v := c.Load()
		p.n.Store(v)
		if v >= int64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%d of %d after %v", v, n, d)
		case <-tick.C:
		}
	}
}

// cpuSeries samples the CPU time of one process, which may be replaced
// by another (a restart), every interval.
type cpuSeries struct {
	mu   sync.Mutex
	pid  int
	last time.Duration // the followed process's CPU at the last sample
	out  []float64     // CPU seconds per interval
	sum  time.Duration
}

// follow makes pid the process sampled from now on; its CPU counts from
// its start.
func (s *cpuSeries) follow(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid != 0 {
		s.take() // the old process's last share, if it still runs
	}
	s.pid, s.last = pid, 0
	if s.out == nil { // the first process counts from now
		s.last, _ = procCPU(pid)
	}
}

// take adds the CPU used since the last sample to the current interval's
// pending total. The caller holds s.mu.
func (s *cpuSeries) take() time.Duration {
	v, err := procCPU(s.pid)
	if err != nil || v < s.last {
		return 0 // exited: its last share is lost (at most one tick)
	}
	d := v - s.last
	s.last = v
	return d
}

// sample starts sampling every interval; the returned func stops it and
// returns the series and its total in seconds.
func (s *cpuSeries) sample(interval time.Duration) func() ([]float64, float64) {
	s.out = []float64{}
	var pending time.Duration
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			s.mu.Lock()
			pending += s.take()
			s.out = append(s.out, round(pending.Seconds()/interval.Seconds(), 3))
			s.sum += pending
			pending = 0
			s.mu.Unlock()
		}
	}()
	return func() ([]float64, float64) {
		close(done)
		<-stopped
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.out, round(s.sum.Seconds(), 2)
	}
}

// evaluateScale returns the targets of --fleet-scale.
func evaluateScale(r Results) []Target {
	return []Target{
		{Name: "scale_mem_ratio", Goal: "broker memory per idle agent <= 1.25x bare quic-go, at scale", Measured: r.ScaleMemRatio, Limit: 1.25,
			Met: r.ScaleMemRatio > 0 && r.ScaleMemRatio <= 1.25},
		{Name: "storm_back", Goal: "every agent trusted and logging in again after the restart", Measured: r.StormBack, Limit: r.StormAgents,
			Met: r.StormAgents > 0 && r.StormBack >= r.StormAgents},
	}
}

// printScaleTable prints the --fleet-scale figures.
func printScaleTable(w io.Writer, rep *Report) {
	r, m := rep.Results, rep.Machine
	fmt.Fprintf(w, "edgetrust-bench --fleet-scale  %s  %s\n", rep.StartedAt.Format(time.RFC3339), rep.Command)
	fmt.Fprintf(w, "machine: %d CPUs, %s, %d MiB RAM, load %.2f at start, %.2f at end; %s; took %.0fs\n\n",
		m.CPUs, m.CPUModel, m.MemTotalMiB, m.LoadAvg1, m.LoadAvg1End, m.Go, rep.DurationS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	f := func(v float64, unit string) string { return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit }
	row := func(name, value, ref string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", name, value, ref) }
	row("measure", "value", "reference")
	row(fmt.Sprintf("idle agents on one broker (%d client sockets)", int(r.ScaleSockets)), f(r.ScaleBrokerAgents, "agents"),
		fmt.Sprintf("registered at %s; QUIC keep-alive %s; tries after a timeout (both phases) %d", f(r.ScaleRegistrationsPerS, "/s"), f(r.ScaleKeepAliveS, "s"), int(r.ScaleRetried)))
	row("  memory per idle agent", f(r.ScaleMemPerAgentKiB, "KiB"), fmt.Sprintf("bare quic-go %s/conn; ratio %s", f(r.ScaleBareMemPerConnKiB, "KiB"), f(r.ScaleMemRatio, "")))
	row("  RSS idle -> fleet, peak", fmt.Sprintf("broker %s -> %s, peak %s", f(r.ScaleBrokerRSSIdleMiB, "MiB"), f(r.ScaleBrokerRSSFleetMiB, "MiB"), f(r.ScaleBrokerPeakMiB, "MiB")),
		fmt.Sprintf("bare %s -> %s, peak %s", f(r.ScaleBareRSSIdleMiB, "MiB"), f(r.ScaleBareRSSFleetMiB, "MiB"), f(r.ScaleBarePeakMiB, "MiB")))
	row(fmt.Sprintf("reconnect storm: broker restarted under %d agents", int(r.StormAgents)), fmt.Sprintf("%s back", f(r.StormBack, "agents")),
		fmt.Sprintf("old broker ended after %s%s, new one listening after %s; most sessions of one agent %d", f(r.StormStopS, "s"), killText(r.StormStopKilled), f(r.StormRestartS, "s"), int(r.StormMaxSessions)))
	row("  trusted again: 99%, 100%", fmt.Sprintf("%s, %s", f(r.StormTrusted99S, "s"), f(r.StormTrusted100S, "s")), "")
	row("  logging in again: 99%, 100%", fmt.Sprintf("%s, %s", f(r.StormLogin99S, "s"), f(r.StormLogin100S, "s")), "")
	row("  broker CPU through the storm", f(r.StormBrokerCPUS, "CPU s"), "per second: "+cpuSeriesText(r.StormBrokerCPUPerS))
	tw.Flush()
	if rep.Notes.FleetScale != "" {
		fmt.Fprintf(w, "\nnot completed: %s\n", rep.Notes.FleetScale)
	}
	fmt.Fprintln(w, "\ntargets:")
	for _, t := range rep.Targets {
		verdict := "MISSED"
		if t.Met {
			verdict = "met   "
		}
		fmt.Fprintf(w, "  %s  %s  measured %v  %s\n", verdict, t.Goal, t.Measured, t.Name)
	}
}

func killText(killed float64) string {
	if killed > 0 {
		return " (killed: no exit within 15 s of SIGTERM)"
	}
	return ""
}

func cpuSeriesText(s []float64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}
