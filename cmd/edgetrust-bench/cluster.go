package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// pgBrokers is how many brokers share one database in the cluster phase.
const pgBrokers = 3

// postgres measures the PostgreSQL store that --store names, after the
// SQLite phases: the registration storm and logins with one broker, then
// spread over pgBrokers brokers on one database, where decisions made
// through one broker's API are timed until an agent on another knows.
// Each broker count gets a fresh schema; the sizes are the SQLite phases'.
func (b *bench) postgres(ctx context.Context) error {
	srv, err := openPG(ctx, b.cfg.store)
	if err != nil {
		return err
	}
	defer func() {
		if b.cfg.keep {
			b.logf("PostgreSQL schemas kept: %v", srv.schemas)
			return
		}
		if err := srv.dropSchemas(); err != nil {
			b.logf("%v", err)
		}
	}()
	b.rep.Notes.Postgres = srv.describe() + fmt.Sprintf("; a fresh schema for 1 broker and one for %d brokers sharing it, measured after the SQLite phases", pgBrokers)
	b.logf("PostgreSQL: %s", srv.describe())
	keyFile, err := writeClusterKey(b.work)
	if err != nil {
		return err
	}
	for _, n := range []int{1, pgBrokers} {
		brokers, err := b.startCluster(ctx, srv, keyFile, n)
		if err == nil {
			err = b.measureCluster(ctx, brokers)
		}
		for _, br := range brokers {
			if serr := br.stop(); err == nil {
				err = serr
			}
		}
		if err != nil {
			return fmt.Errorf("PostgreSQL, %d brokers: %w (broker logs: %s)", n, err, filepath.Join(b.work, fmt.Sprintf("pg%d-*", n)))
		}
	}
	return nil
}

// startCluster starts n brokers on a new schema, one after the other (the
// first bootstraps the database), sharing the cluster key and the admin's
// password.
func (b *bench) startCluster(ctx context.Context, srv *pgServer, keyFile string, n int) ([]*brokerProc, error) {
	store, err := srv.newSchema(ctx)
	if err != nil {
		return nil, err
	}
	password := newPassword()
	args := append([]string{"--store", store, "--cluster-key-file", keyFile}, b.cfg.brokerArgs...)
	var brokers []*brokerProc
	for i := range n {
		br, err := startBroker(ctx, b.cfg.brokerBin, filepath.Join(b.work, fmt.Sprintf("pg%d-%d", n, i+1)), password, args)
		if err != nil {
			for _, x := range brokers {
				x.stop()
			}
			return nil, err
		}
		b.logf("PostgreSQL broker %d of %d: %s (pid %d, log %s)", i+1, n, br.addr, br.pid(), br.logPath)
		brokers = append(brokers, br)
	}
	return brokers, nil
}

// measureCluster runs the storm and the logins spread over brokers, and
// with more than one broker the cross-broker pushes.
func (b *bench) measureCluster(ctx context.Context, brokers []*brokerProc) error {
	r := &b.rep.Results
	key, err := brokers[0].createKey(ctx, "bench-auto-trust", true)
	if err != nil {
		return err
	}
	f, err := newFleet(brokers...)
	if err != nil {
		return err
	}
	defer f.close()
	registered, reg, err := b.storm(ctx, f, key)
	if err != nil {
		return err
	}
	login, err := b.logins(ctx, f, registered, key)
	if err != nil {
		return err
	}
	if len(brokers) == 1 {
		r.PG1RegistrationsPerS, r.PG1BrokerCPUPerRegisterMs = reg.perS, reg.brokerCPU
		r.PG1RegisterP50Ms, r.PG1RegisterP99Ms = reg.p50Ms, reg.p99Ms
		r.PG1LoginsPerS, r.PG1BrokerCPUPerLoginMs = login.perS, login.brokerCPU
		r.PG1LoginP50Ms, r.PG1LoginP99Ms = login.p50Ms, login.p99Ms
		return nil
	}
	r.PG3RegistrationsPerS, r.PG3BrokerCPUPerRegisterMs = reg.perS, reg.brokerCPU
	r.PG3RegisterP50Ms, r.PG3RegisterP99Ms = reg.p50Ms, reg.p99Ms
	r.PG3LoginsPerS, r.PG3BrokerCPUPerLoginMs = login.perS, login.brokerCPU
	r.PG3LoginP50Ms, r.PG3LoginP99Ms = login.p50Ms, login.p99Ms
	f.close() // the storm's agents are not needed any more
	return b.propagation(ctx, brokers[0], brokers[1])
}

// decision is an admin's decision on an endpoint and what its agent is
// pushed.
type decision struct {
	name  string
	call  func(ctx context.Context, via *brokerProc, id string) error
	known func(ctx context.Context, a *simAgent) error
}

var (
	approveDecision = decision{"approval",
		func(ctx context.Context, via *brokerProc, id string) error {
			_, err := via.api.ApproveEndpoint(ctx, id)
			return err
		},
		func(ctx context.Context, a *simAgent) error { return a.awaitTrusted(ctx) }}
	untrustDecision = decision{"untrust",
		func(ctx context.Context, via *brokerProc, id string) error {
			_, err := via.api.UntrustEndpoint(ctx, id)
			return err
		},
		func(ctx context.Context, a *simAgent) error {
			_, err := a.await(ctx, protocol.StateUntrusted)
			return err
		}}
)

// pushTimes are the latencies of decisions: from the request until the
// agent knows, and the API call alone.
type pushTimes struct{ known, api latency }

// pushTrials makes decision d through via's API on each agent in turn,
// one at a time.
func (b *bench) pushTrials(ctx context.Context, what string, via *brokerProc, agents []*simAgent, d decision) ([]*simAgent, pushTimes, error) {
	var apiLat []time.Duration
	ok, lat, err := b.trials(ctx, what, agents, func(ctx context.Context, a *simAgent) error {
		t0 := time.Now()
		if err := d.call(ctx, via, a.id); err != nil {
			return err
		}
		api := time.Since(t0)
		if err := d.known(ctx, a); err != nil {
			return err
		}
		apiLat = append(apiLat, api)
		return nil
	})
	return ok, pushTimes{summarize(lat), summarize(apiLat)}, err
}

// propagation measures decisions made through from's API pushed to agents
// connected to to: cfg.trials pending agents on to, each approved through
// from, then each untrusted through from, one at a time. Then the same
// agents are approved and untrusted again through to's own API, for
// reference: the difference is what crossing brokers adds (the commit's
// NOTIFY, a read of the change feed on to).
func (b *bench) propagation(ctx context.Context, from, to *brokerProc) error {
	r := &b.rep.Results
	key, err := from.createKey(ctx, "bench-propagation", false)
	if err != nil {
		return err
	}
	f, err := newFleet(to)
	if err != nil {
		return err
	}
	defer f.close()
	b.logf("cross-broker pushes: %d pending agents on %s, decided one at a time through %s", b.cfg.trials, to.addr, from.addr)
	agents, _, _, err := b.register(ctx, f, newAgents(b.cfg.trials), key, protocol.StatePending, "pending registrations")
	if err != nil {
		return err
	}
	var t [4]pushTimes
	steps := []struct {
		what string
		via  *brokerProc
		d    decision
	}{
		{"cross-broker approval", from, approveDecision},
		{"cross-broker untrust", from, untrustDecision},
		{"same-broker approval", to, approveDecision},
		{"same-broker untrust", to, untrustDecision},
	}
	for i, s := range steps {
		if agents, t[i], err = b.pushTrials(ctx, s.what, s.via, agents, s.d); err != nil {
			return err
		}
		if len(agents) == 0 {
			return errors.New(s.what + ": no agent left")
		}
	}
	r.PropagationApproveP50Ms, r.PropagationApproveP99Ms, r.PropagationApproveMaxMs = ms(t[0].known.p50), ms(t[0].known.p99), ms(t[0].known.max)
	r.PropagationApproveAPIP50Ms = ms(t[0].api.p50)
	r.PropagationUntrustP50Ms, r.PropagationUntrustP99Ms, r.PropagationUntrustMaxMs = ms(t[1].known.p50), ms(t[1].known.p99), ms(t[1].known.max)
	r.PropagationUntrustAPIP50Ms = ms(t[1].api.p50)
	r.PG3LocalApproveP50Ms, r.PG3LocalApproveP99Ms = ms(t[2].known.p50), ms(t[2].known.p99)
	r.PG3LocalUntrustP50Ms, r.PG3LocalUntrustP99Ms = ms(t[3].known.p50), ms(t[3].known.p99)
	return nil
}
