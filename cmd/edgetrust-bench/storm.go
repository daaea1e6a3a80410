package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// register connects and registers agents (expected in state want) with
// apiKey, conc at a time. It returns the agents that registered, the time
// it took and each one's latency.
func (b *bench) register(ctx context.Context, f *fleet, agents []*simAgent, apiKey, want, name string) ([]*simAgent, poolResult, []time.Duration, error) {
	lat := make([]time.Duration, len(agents))
	res, err := b.pool(ctx, name, len(agents), b.cfg.conc, b.progress(name, len(agents)), func(ctx context.Context, i int) error {
		ctx, cancel := within(ctx, opTimeout)
		defer cancel()
		t0 := time.Now()
		a := agents[i]
		if err := retryRefused(ctx, &b.brokerRefused, func() error { return f.connect(ctx, a, apiKey, i) }); err != nil {
			return err
		}
		d := time.Since(t0)
		if a.state != want {
			return fmt.Errorf("registered as %s, want %s", a.state, want)
		}
		if want == protocol.StateTrusted && (a.tokens == nil || a.tokens.AccessToken == "") {
			return errors.New("trusted without a device token")
		}
		lat[i] = d
		return nil
	})
	var ok []*simAgent
	for i, a := range agents {
		if lat[i] > 0 {
			ok = append(ok, a)
		}
	}
	return ok, res, succeeded(lat), err
}

// stormAndLogins runs the registration storm with an automatic-trust key,
// then session logins through the registered agents.
func (b *bench) stormAndLogins(ctx context.Context, br *brokerProc) error {
	r := &b.rep.Results
	key, err := br.createKey(ctx, "bench-auto-trust", true)
	if err != nil {
		return err
	}
	f, err := newFleet(br)
	if err != nil {
		return err
	}
	warm := newAgents(warmups)
	agents := newAgents(b.cfg.agents)
	defer f.close(append(warm, agents...))
	if _, _, _, err := b.register(ctx, f, warm, key, protocol.StateTrusted, "warm-up"); err != nil {
		return fmt.Errorf("warm-up registrations: %w", err)
	}

	b.logf("registration storm: %d agents, %d at a time, automatic-trust key", len(agents), b.cfg.conc)
	cpu := startCPU(br.pid())
	registered, res, lat, err := b.register(ctx, f, agents, key, protocol.StateTrusted, "registrations")
	if err != nil {
		return fmt.Errorf("registration storm: %w", err)
	}
	r.RegistrationsPerS = perSec(res.ok, res.busy)
	r.BrokerCPUPerRegisterMs, r.AgentsCPUPerRegisterMs = cpu.perOp(res.ok)
	l := summarize(lat)
	r.RegisterP50Ms, r.RegisterP99Ms = ms(l.p50), ms(l.p99)
	b.rep.Notes.TLSKeyExchange = f.keyExchange()

	b.logf("reference: Ed25519 verify+sign for %v on %d cores", b.cfg.refTime, runtime.GOMAXPROCS(0))
	r.CryptoPerS, r.CryptoCPUMs = cryptoRate(b.cfg.refTime)

	agents = registered
	users := min(loginUsers, len(agents))
	login := func(ctx context.Context, j int) error {
		ctx, cancel := within(ctx, opTimeout)
		defer cancel()
		a := agents[j%len(agents)]
		_, err := a.conn.Login(ctx, protocol.Login{
			APIKey: key, DeviceToken: a.tokens.AccessToken, Type: protocol.LoginSessionUser, Username: fmt.Sprintf("bench-user-%03d", j%users),
		})
		return err
	}
	if _, err := runPool(ctx, users, b.cfg.conc, 0, nil, login); err != nil {
		return fmt.Errorf("first logins (creating users): %w", err)
	}
	b.logf("session logins: %d over %d agents as %d users, %d at a time", b.cfg.logins, len(agents), users, b.cfg.conc)
	llat := make([]time.Duration, b.cfg.logins)
	cpu = startCPU(br.pid())
	res, err = b.pool(ctx, "session logins", b.cfg.logins, b.cfg.conc, b.progress("logins", b.cfg.logins), func(ctx context.Context, j int) error {
		t0 := time.Now()
		if err := login(ctx, j); err != nil {
			return err
		}
		llat[j] = time.Since(t0)
		return nil
	})
	if err != nil {
		return err
	}
	r.LoginsPerS = perSec(res.ok, res.busy)
	r.BrokerCPUPerLoginMs, r.AgentsCPUPerLoginMs = cpu.perOp(res.ok)
	l = summarize(succeeded(llat))
	r.LoginP50Ms, r.LoginP99Ms = ms(l.p50), ms(l.p99)
	return nil
}
