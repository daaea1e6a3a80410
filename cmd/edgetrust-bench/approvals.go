package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// approvals measures single approvals and untrusts pushed to waiting
// agents, one at a time, then one bulk approval of many pending agents.
func (b *bench) approvals(ctx context.Context, br *brokerProc) error {
	r := &b.rep.Results
	key, err := br.createKey(ctx, "bench-needs-approval", false)
	if err != nil {
		return err
	}
	f, err := newFleet(br)
	if err != nil {
		return err
	}
	trial := newAgents(b.cfg.trials)
	bulk := newAgents(b.cfg.bulk)
	defer f.close()

	b.logf("approval push: %d pending agents, approved one at a time", len(trial))
	trial, _, _, err = b.register(ctx, f, trial, key, protocol.StatePending, "pending registrations")
	if err != nil {
		return err
	}
	approved, lat, err := b.trials(ctx, "approval", trial, func(ctx context.Context, a *simAgent) error {
		if _, err := br.api.ApproveEndpoint(ctx, a.id); err != nil {
			return err
		}
		return a.awaitTrusted(ctx)
	})
	if err != nil {
		return err
	}
	l := summarize(lat)
	r.ApproveP50Ms, r.ApproveP99Ms = ms(l.p50), ms(l.p99)

	b.logf("untrust push: %d trusted agents, untrusted one at a time", len(approved))
	_, lat, err = b.trials(ctx, "untrust", approved, func(ctx context.Context, a *simAgent) error {
		if _, err := br.api.UntrustEndpoint(ctx, a.id); err != nil {
			return err
		}
		_, err := a.await(ctx, protocol.StateUntrusted)
		return err
	})
	if err != nil {
		return err
	}
	l = summarize(lat)
	r.UntrustP50Ms, r.UntrustP99Ms = ms(l.p50), ms(l.p99)

	b.logf("bulk approval: %d pending agents", len(bulk))
	bulk, _, _, err = b.register(ctx, f, bulk, key, protocol.StatePending, "pending registrations")
	if err != nil {
		return err
	}
	return b.bulkApproval(ctx, br, bulk)
}

// trials times op on each agent in turn, from the API call to the agent
// knowing. It returns the agents it succeeded on and their latencies.
func (b *bench) trials(ctx context.Context, what string, agents []*simAgent, op func(ctx context.Context, a *simAgent) error) ([]*simAgent, []time.Duration, error) {
	var ok []*simAgent
	var lat []time.Duration
	var first error
	for i, a := range agents {
		ctx, cancel := within(ctx, opTimeout)
		t0 := time.Now()
		err := op(ctx, a)
		d := time.Since(t0)
		cancel()
		if err != nil {
			if first == nil {
				first = fmt.Errorf("#%d: %w", i, err)
			}
			if i+1-len(ok) > budget(len(agents)) {
				return nil, nil, fmt.Errorf("%s: %d of %d failed, first %w", what, i+1-len(ok), len(agents), first)
			}
			continue
		}
		ok, lat = append(ok, a), append(lat, d)
	}
	b.failed(what, len(agents)-len(ok), first)
	return ok, lat, nil
}

func (b *bench) bulkApproval(ctx context.Context, br *brokerProc, agents []*simAgent) error {
	r := &b.rep.Results
	ids := make([]string, len(agents))
	arrived := make([]time.Time, len(agents))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		missed int
		first  error
	)
	wctx, cancel := within(ctx, 2*opTimeout)
	defer cancel()
	for i, a := range agents {
		ids[i] = a.id
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.awaitTrusted(wctx); err != nil {
				mu.Lock()
				missed++
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			arrived[i] = time.Now()
		}()
	}
	cpu := startCPU(br.pid())
	t0 := time.Now()
	err := br.bulkApprove(ctx, ids)
	b.rep.Notes.ApprovalMethod = "bulk"
	if errors.Is(err, errNoBulkRoute) {
		// The broker has no bulk route yet: as many single approvals at
		// once as the storm's concurrency, through the same API.
		b.rep.Notes.ApprovalMethod = "single approvals, concurrent (no bulk route: HTTP 404/405)"
		_, err = b.pool(ctx, "single approvals", len(ids), b.cfg.conc, b.progress("approvals", len(ids)), func(ctx context.Context, i int) error {
			_, err := br.api.ApproveEndpoint(ctx, ids[i])
			return err
		})
	}
	api := time.Since(t0)
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("bulk approval: %w", err)
	}
	wg.Wait()
	r.BrokerCPUPerBulkMs, _ = cpu.perOp(len(agents) - missed)
	if missed > budget(len(agents)) {
		return fmt.Errorf("bulk approval: %d of %d agents got no token, first: %w", missed, len(agents), first)
	}
	b.failed("bulk approval", missed, first)
	last := t0
	for _, t := range arrived {
		if t.After(last) {
			last = t
		}
	}
	r.BulkAPIMs, r.BulkApproveMs = ms(api), ms(last.Sub(t0))
	b.logf("bulk approval: %s; last token after %v (API %v)", b.rep.Notes.ApprovalMethod, last.Sub(t0).Round(time.Millisecond), api.Round(time.Millisecond))
	return nil
}
