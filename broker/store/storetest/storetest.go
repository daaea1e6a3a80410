// Package storetest is the conformance suite every registry.Store passes.
//
// A store's tests call Run with a constructor that returns a fresh, empty
// store for each subtest:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) registry.Store { ... })
//	}
//
// The suite pins the contracts documented on registry.Store and
// registry.Tx: round trips (zero times stay zero, nanoseconds survive),
// ErrNotFound / ErrConflict / ErrLimitReached, single-use consumption under
// concurrency, filters and orderings, commit / rollback, and the audit
// log's change cursor across Updates that commit out of id order.
//
// Serialisation (serial.go) is checked through the registry itself: the
// suite builds a registry.Registry over the store and races its use cases
// (registrations against a quota, an approval against a rejection), since
// what must hold is the outcome of the registry's read-then-write rules,
// not any one method. CheckQuotaRace and CheckDecideRace are exported so
// that a store's package can also show they fail on a store that does not
// serialise Updates (see Interleaver).
package storetest

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Run runs the suite. newStore is called once per subtest and must return
// an empty store; Run closes it when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) registry.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s registry.Store)
	}{
		{"Accounts", testAccounts},
		{"Users", testUsers},
		{"FindUsers", testFindUsers},
		{"DeleteUser", testDeleteUser},
		{"Roles", testRoles},
		{"UpdateRole", testUpdateRole},
		{"DeleteRole", testDeleteRole},
		{"Grants", testGrants},
		{"DeleteGrant", testDeleteGrant},
		{"APIKeys", testAPIKeys},
		{"ListAPIKeysRunningAs", testListAPIKeysRunningAs},
		{"DeleteAPIKey", testDeleteAPIKey},
		{"CountAPIKeys", testCountAPIKeys},
		{"KeyValues", testKeyValues},
		{"UpdateKeyValue", testUpdateKeyValue},
		{"RecordKeyUse", testRecordKeyUse},
		{"RecordKeyUseConcurrent", testRecordKeyUseConcurrent},
		{"Endpoints", testEndpoints},
		{"TransitionEndpoint", testTransitionEndpoint},
		{"ListEndpoints", testListEndpoints},
		{"CountEndpoints", testCountEndpoints},
		{"CountEndpointsByAccount", testCountEndpointsByAccount},
		{"RefreshTokens", testRefreshTokens},
		{"ConsumeRefreshTokenConcurrent", testConsumeRefreshTokenConcurrent},
		{"RevokeRefreshChain", testRevokeRefreshChain},
		{"RevokeRefreshTokensOf", testRevokeRefreshTokensOf},
		{"PurgeRefreshTokens", testPurgeRefreshTokens},
		{"Audit", testAudit},
		{"ListAudit", testListAudit},
		{"ChangeCursor", testChangeCursor},
		{"ChangeCursorOverlap", testChangeCursorOverlap},
		{"LastChangeCursor", testLastChangeCursor},
		{"Meta", testMeta},
		{"Transactions", testTransactions},
		{"QuotaRace", testQuotaRace},
		{"DecideRace", testDecideRace},
		{"OAuth", testOAuth},
		{"Login", testLogin},
		{"Webhooks", testWebhooks},
		{"WebhookDeliveries", testWebhookDeliveries},
		{"WebhookClaimRace", testWebhookClaimRace},
		{"PurgeWebhookDeliveries", testPurgeWebhookDeliveries},
		{"FailureCounts", testFailureCounts},
		{"CountPending", testCountPending},
		{"CacheGeneration", testCacheGeneration},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is the suite's clock. Times carry nanoseconds so a store that rounds
// (to microseconds, say) fails the round trips.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// at returns t0 + d + 123456789ns, so every time has a fractional second.
func at(d time.Duration) time.Time { return t0.Add(d + 123456789) }

// cmpOpts compares registry values: netip.Prefix by ==, and nil and empty
// slices and maps as equal (stores need not tell them apart). time.Time is
// compared with its Equal method, so the zero time differs from the epoch.
var cmpOpts = []cmp.Option{
	cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}),
	cmpopts.EquateEmpty(),
}

func diff(want, got any) string { return cmp.Diff(want, got, cmpOpts...) }

func update(t *testing.T, s registry.Store, fn func(tx registry.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s registry.Store, fn func(tx registry.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// race runs fn(i, tx) for i in [0, workers) at once, each in its own
// Update, and counts the updates that succeeded and those refused with an
// error wrapping refused. Any other error fails the test, named by what.
func race(t *testing.T, s registry.Store, what string, workers int, refused error, fn func(i int, tx registry.Tx) error) (ok, lost int) {
	t.Helper()
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		unexpected error
	)
	for i := range workers {
		wg.Go(func() {
			err := s.Update(t.Context(), func(tx registry.Tx) error { return fn(i, tx) })
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, refused):
				lost++
			default:
				unexpected = err
			}
		})
	}
	wg.Wait()
	if unexpected != nil {
		t.Fatalf("%s: %v", what, unexpected)
	}
	return ok, lost
}

// wantErr fails unless errors.Is(err, target); a nil target wants no error.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: error %v, want one wrapping %q", what, err, target)
	}
}

// Fixture accounts, created by seedAccounts.
const (
	acctRoot = "acct-root"
	acctA    = "acct-a"
	acctB    = "acct-b"
)

func seedAccounts(t *testing.T, s registry.Store) {
	t.Helper()
	update(t, s, func(tx registry.Tx) error {
		for i, a := range []registry.Account{
			{ID: acctRoot, Name: "Root", Type: registry.AccountVendor},
			{ID: acctA, ParentID: acctRoot, Name: "A", Type: registry.AccountCustomer},
			{ID: acctB, ParentID: acctRoot, Name: "B", Type: registry.AccountCustomer},
		} {
			a.CreatedAt = at(time.Duration(i) * time.Second)
			if err := tx.CreateAccount(&a); err != nil {
				return err
			}
		}
		return nil
	})
}
