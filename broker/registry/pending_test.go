package registry_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func (e *env) setPendingCaps(t *testing.T, account string, perValue, perAccount int) {
	t.Helper()
	var cur registry.Account
	e.store.View(e.ctx, func(tx registry.Tx) error {
		a, err := tx.GetAccount(account)
		if err == nil {
			cur = *a
		}
		return err
	})
	s := cur.Settings
	s.PendingPerKeyValue, s.PendingPerAccount = perValue, perAccount
	if _, err := e.reg.UpdateAccount(e.ctx, e.admin, account, registry.AccountUpdate{Settings: &s}); err != nil {
		t.Fatal(err)
	}
}

// countPending counts the pending endpoints of account.
func (e *env) countPending(t *testing.T, account string) int {
	t.Helper()
	var n int
	e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		n, err = tx.CountPendingByAccount(account)
		return err
	})
	return n
}

// SPEC R8 (issue 15, point 3): registrations with distinct client ids from
// one key value cannot grow the pending queue past its cap; the refusal
// names the cap; a known client id re-registers; a decision frees a place.
func TestPendingCapPerKeyValue(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	e.setPendingCaps(t, tr.custA.ID, 5, 0)
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	var first device
	for i := 0; i < 5; i++ {
		d := newDevice(t)
		if i == 0 {
			first = d
		}
		e.mustRegister(d, k.Value)
	}
	for i := 0; i < 100; i++ {
		_, err := e.register(newDevice(t), k.Value)
		wantKindMsg(t, err, registry.KindQuota, "5 registrations made with this key value await a decision")
		if !strings.Contains(registry.PublicMessage(err), "pending_per_key_value") {
			t.Fatalf("the refusal does not name the setting: %q", registry.PublicMessage(err))
		}
	}
	if n := e.countPending(t, tr.custA.ID); n != 5 {
		t.Fatalf("%d pending, want the cap, 5", n)
	}
	e.mustRegister(first, k.Value) // a known client id: no new request
	if _, err := e.reg.Decide(e.ctx, e.admin, first.id, registry.ActionReject, loopback); err != nil {
		t.Fatal(err)
	}
	e.mustRegister(newDevice(t), k.Value)
	// Another value of the same key has its own count.
	v2, err := e.reg.AddKeyValue(e.ctx, e.admin, k.Key.ID, registry.AddValueRequest{Description: "second"})
	if err != nil {
		t.Fatal(err)
	}
	e.mustRegister(newDevice(t), v2.Value)
}

func TestPendingCapPerAccount(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	e.setPendingCaps(t, tr.custA.ID, 0, 3)
	k1 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	k2 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	e.mustRegister(newDevice(t), k1.Value)
	e.mustRegister(newDevice(t), k2.Value)
	e.mustRegister(newDevice(t), k1.Value)
	_, err := e.register(newDevice(t), k2.Value)
	wantKindMsg(t, err, registry.KindQuota, `3 registrations in account "customer A" await a decision, its cap (setting pending_per_account)`)
	if ev := e.lastAudit("endpoint.register"); ev.Outcome != registry.OutcomeFailure {
		t.Errorf("refused registration not audited: %+v", ev)
	}
	// Trusted at once (automatic trust) is not pending: no cap.
	auto := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, AutoTrust: true})
	e.mustRegister(newDevice(t), auto.Value)
}

// The cap holds under 64 concurrent registrations: the count and the
// insert are one serialised transaction.
func TestPendingCapConcurrent(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	e.setPendingCaps(t, tr.custA.ID, 10, 0)
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.register(newDevice(t), k.Value); err != nil && registry.KindOf(err) != registry.KindQuota {
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := e.countPending(t, tr.custA.ID); n != 10 {
		t.Fatalf("%d pending after 64 concurrent registrations, want the cap, 10", n)
	}
}

// The default cap, 10,000 per key value. Without -race, 10,104
// registrations with distinct client ids go through Register (eight at
// once); with -race, which slows the store tenfold, all but the last 114
// pending requests are copies of a real one written to the store in one
// transaction (the pending counts follow the rows through the store's
// triggers), and the last 114 go through Register. Either way the queue
// stops at the cap and the rest are refused.
func TestPendingCapDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 pending requests: not with -short")
	}
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	start := time.Now()
	cap := registry.DefaultPendingPerKeyValue
	const total = 10_104
	through := total // registrations made through Register
	if raceEnabled {
		through = 114
		ep := e.endpoint(e.mustRegister(newDevice(t), k.Value).Endpoint.ID) // a real pending request to copy
		err := e.store.Update(e.ctx, func(tx registry.Tx) error {
			for i := 1; i < total-through; i++ {
				c := *ep
				c.ID, c.Hostname = uuid.NewString(), fmt.Sprintf("seed-%05d", i)
				c.PublicKey, c.KeyType, c.KeyThumbprint = nil, "", ""
				if err := tx.CreateEndpoint(&c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Eight registrants at once (the store commits them in groups).
	const workers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < through; i += workers {
				_, err := e.register(newDevice(t), k.Value)
				outcome := "pending"
				if err != nil {
					outcome = registry.KindOf(err).String()
				}
				mu.Lock()
				got[outcome]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("figure: %d registrations with distinct client ids from one key value (%d through Register) in %s: %v",
		total, through, time.Since(start).Round(time.Millisecond), got)
	want := map[string]int{"pending": cap - (total - through), "quota": total - cap}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes of the registrations through Register (-want +got):\n%s", diff)
	}
	if n := e.countPending(t, k.Key.AccountID); n != cap {
		t.Errorf("%d pending, want the cap %d", n, cap)
	}
}

// A pending request whose device code has expired cannot be approved,
// even before the sweep purges it (SPEC E3, R8).
func TestApproveExpiredPendingRefused(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	d := newDevice(t)
	e.mustRegister(d, k.Value)
	e.clk.Advance(72*time.Hour + time.Second)
	_, err := e.reg.Decide(e.ctx, e.admin, d.id, registry.ActionApprove, loopback)
	wantKindMsg(t, err, registry.KindConflict, "the registration request expired at 2026-03-04T09:00:00Z and can no longer be approved: the device must register again")
	if ep := e.endpoint(d.id); ep == nil || ep.State != registry.StatePending {
		t.Fatalf("endpoint after the refused approval: %+v", ep)
	}
	// Registering again renews the request, which can then be approved.
	e.mustRegister(d, k.Value)
	if _, err := e.reg.Decide(e.ctx, e.admin, d.id, registry.ActionApprove, loopback); err != nil {
		t.Fatalf("approving the renewed request: %v", err)
	}
}
