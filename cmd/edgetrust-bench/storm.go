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

// rate is what a throughput phase measured: successes per second, the
// CPU milliseconds per operation of the brokers (all of them together) and
// of the agents, and the operations' latencies.
type rate struct {
	perS                 float64
	brokerCPU, agentsCPU float64
	p50Ms, p99Ms         float64
}

func newRate(res poolResult, cpu *cpuMeter, lat []time.Duration) rate {
	r := rate{perS: perSec(res.ok, res.busy)}
	r.brokerCPU, r.agentsCPU = cpu.perOp(res.ok)
	l := summarize(lat)
	r.p50Ms, r.p99Ms = ms(l.p50), ms(l.p99)
	return r
}

// stormAndLogins runs the registration storm with an automatic-trust key,
// the Ed25519 reference, then session logins through the registered agents.
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
	defer f.close()
	registered, reg, err := b.storm(ctx, f, key)
	if err != nil {
		return err
	}
	r.RegistrationsPerS = reg.perS
	r.BrokerCPUPerRegisterMs, r.AgentsCPUPerRegisterMs = reg.brokerCPU, reg.agentsCPU
	r.RegisterP50Ms, r.RegisterP99Ms = reg.p50Ms, reg.p99Ms
	b.rep.Notes.TLSKeyExchange = f.keyExchange()

	b.logf("reference: Ed25519 verify+sign for %v on %d cores", b.cfg.refTime, runtime.GOMAXPROCS(0))
	r.CryptoPerS, r.CryptoCPUMsAllCores = cryptoRate(b.cfg.refTime)
	b.cref.sample()

	login, err := b.logins(ctx, f, registered, key)
	if err != nil {
		return err
	}
	b.cref.sample()
	r.LoginsPerS = login.perS
	r.BrokerCPUPerLoginMs, r.AgentsCPUPerLoginMs = login.brokerCPU, login.agentsCPU
	r.LoginP50Ms, r.LoginP99Ms = login.p50Ms, login.p99Ms
	return nil
}

// storm registers cfg.agents new agents with key (automatic trust), spread
// over the fleet's brokers, after a few untimed ones. It returns the
// storm's agents that registered.
func (b *bench) storm(ctx context.Context, f *fleet, key string) ([]*simAgent, rate, error) {
	if _, _, _, err := b.register(ctx, f, newAgents(warmups), key, protocol.StateTrusted, "warm-up"); err != nil {
		return nil, rate{}, fmt.Errorf("warm-up registrations: %w", err)
	}
	agents := newAgents(b.cfg.agents)
	b.cref.sample()
	b.logf("registration storm: %d agents, %d at a time, automatic-trust key, %s", len(agents), b.cfg.conc, f.where())
	cpu := startCPU(f.pids()...)
	registered, res, lat, err := b.register(ctx, f, agents, key, protocol.StateTrusted, "registrations")
	if err != nil {
		return nil, rate{}, fmt.Errorf("registration storm: %w", err)
	}
	return registered, newRate(res, cpu, lat), nil
}

// logins runs cfg.logins session logins through agents (each on the broker
// it is connected to) as loginUsers users, after each user's first login,
// which creates it, untimed.
func (b *bench) logins(ctx context.Context, f *fleet, agents []*simAgent, key string) (rate, error) {
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
		return rate{}, fmt.Errorf("first logins (creating users): %w", err)
	}
	b.logf("session logins: %d over %d agents as %d users, %d at a time, %s", b.cfg.logins, len(agents), users, b.cfg.conc, f.where())
	lat := make([]time.Duration, b.cfg.logins)
	cpu := startCPU(f.pids()...)
	res, err := b.pool(ctx, "session logins", b.cfg.logins, b.cfg.conc, b.progress("logins", b.cfg.logins), func(ctx context.Context, j int) error {
		t0 := time.Now()
		if err := login(ctx, j); err != nil {
			return err
		}
		lat[j] = time.Since(t0)
		return nil
	})
	if err != nil {
		return rate{}, err
	}
	return newRate(res, cpu, succeeded(lat)), nil
}
