package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// testLogin pins the contracts of the DPoP proof and session (refresh
// chain) methods of registry.OAuthTx.
func testLogin(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s registry.Store)
	}{
		{"DPoPProofs", testDPoPProofs},
		{"RecordDPoPProofConcurrent", testRecordDPoPProofConcurrent},
		{"RefreshChains", testRefreshChains},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) })
	}
}

func recordProof(t *testing.T, s registry.Store, id string, until time.Time) error {
	t.Helper()
	return inTx(t, s, func(tx registry.Tx) error { return tx.RecordDPoPProof(id, until) })
}

func testDPoPProofs(t *testing.T, s registry.Store) {
	wantErr(t, "first record", recordProof(t, s, "p-1", at(time.Minute)), nil)
	wantErr(t, "second record", recordProof(t, s, "p-1", at(time.Hour)), registry.ErrConflict)
	wantErr(t, "another id", recordProof(t, s, "p-2", at(time.Hour)), nil)
	wantErr(t, "no expiry", recordProof(t, s, "p-3", time.Time{}), nil)

	// A rolled-back record leaves nothing behind.
	_ = s.Update(t.Context(), func(tx registry.Tx) error {
		if err := tx.RecordDPoPProof("p-rolled-back", at(time.Hour)); err != nil {
			t.Errorf("RecordDPoPProof: %v", err)
		}
		return registry.ErrConflict // any error rolls back
	})
	wantErr(t, "record after a rollback", recordProof(t, s, "p-rolled-back", at(time.Hour)), nil)

	var n int
	update(t, s, func(tx registry.Tx) error {
		var err error
		n, err = tx.PurgeDPoPProofs(at(30 * time.Minute))
		return err
	})
	if n != 2 { // p-1 (expired) and p-3 (no expiry)
		t.Errorf("PurgeDPoPProofs purged %d, want 2", n)
	}
	wantErr(t, "record of a purged id", recordProof(t, s, "p-1", at(time.Hour)), nil)
	wantErr(t, "record of a kept id", recordProof(t, s, "p-2", at(time.Hour)), registry.ErrConflict)
}

// testRecordDPoPProofConcurrent: of many brokers recording one proof at
// once, exactly one succeeds.
func testRecordDPoPProofConcurrent(t *testing.T, s registry.Store) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, conflicts := 0, 0
	for range n {
		wg.Go(func() {
			var rerr error
			err := s.Update(t.Context(), func(tx registry.Tx) error {
				rerr = tx.RecordDPoPProof("p-race", at(time.Hour))
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("Update: %v", err)
			case rerr == nil:
				ok++
			default:
				conflicts++
			}
		})
	}
	wg.Wait()
	if ok != 1 || conflicts != n-1 {
		t.Errorf("%d successes and %d conflicts, want 1 and %d", ok, conflicts, n-1)
	}
}

// testRefreshChains is long by design: one chain's whole life (issue,
// rotate, reuse, revoke, purge), step by step.
func testRefreshChains(t *testing.T, s registry.Store) {
	tok := func(id, chain, subject, endpoint string, issued, expires time.Duration) registry.RefreshToken {
		rt := token(id, chain, registry.SubjectUser, subject, endpoint)
		rt.IssuedAt, rt.ExpiresAt = at(issued), at(expires)
		return rt
	}
	// u-1 has: chain a (rotated twice, the last token live), chain b (via
	// ep-1, live), chain c (revoked), chain d (expired) and chain e (its
	// only token used: a refresh that lost its answer).
	a1 := tok("a1", "ch-a", "u-1", "", 0, 10*time.Hour)
	a1.UsedAt = at(time.Hour)
	a2 := tok("a2", "ch-a", "u-1", "", time.Hour, 11*time.Hour)
	a2.UsedAt = at(2 * time.Hour)
	a3 := tok("a3", "ch-a", "u-1", "", 2*time.Hour, 12*time.Hour)
	b1 := tok("b1", "ch-b", "u-1", "ep-1", 30*time.Minute, 20*time.Hour)
	c1 := tok("c1", "ch-c", "u-1", "", 0, 20*time.Hour)
	c1.RevokedAt = at(time.Hour)
	d1 := tok("d1", "ch-d", "u-1", "", 0, 2*time.Hour)
	e1 := tok("e1", "ch-e", "u-1", "", 0, 20*time.Hour)
	e1.UsedAt = at(time.Hour)
	other := tok("o1", "ch-o", "u-2", "", 0, 20*time.Hour)
	device := token("dev1", "ch-dev", registry.SubjectEndpoint, "u-1", "") // an endpoint id equal to the user's
	device.ExpiresAt = at(20 * time.Hour)
	createTokens(t, s, a1, a2, a3, b1, c1, d1, e1, other, device)

	now := at(3 * time.Hour)
	wantA := registry.RefreshChain{ChainID: "ch-a", SubjectType: registry.SubjectUser, SubjectID: "u-1", AccountID: acctA,
		StartedAt: at(0), RefreshedAt: at(2 * time.Hour), ExpiresAt: at(12 * time.Hour), Live: true}
	wantB := registry.RefreshChain{ChainID: "ch-b", SubjectType: registry.SubjectUser, SubjectID: "u-1", AccountID: acctA,
		EndpointID: "ep-1", StartedAt: at(30 * time.Minute), RefreshedAt: at(30 * time.Minute), ExpiresAt: at(20 * time.Hour), Live: true}

	t.Run("list", func(t *testing.T) {
		var got []registry.RefreshChain
		view(t, s, func(tx registry.Tx) error {
			var err error
			got, err = tx.ListRefreshChains(registry.SubjectUser, "u-1", now)
			return err
		})
		if d := diff([]registry.RefreshChain{wantA, wantB}, got); d != "" {
			t.Errorf("ListRefreshChains (-want +got):\n%s", d)
		}
		view(t, s, func(tx registry.Tx) error {
			var err error
			got, err = tx.ListRefreshChains(registry.SubjectUser, "nobody", now)
			return err
		})
		if len(got) != 0 {
			t.Errorf("ListRefreshChains(nobody) = %v, want none", got)
		}
		// After a's last token expires, only b is live.
		view(t, s, func(tx registry.Tx) error {
			var err error
			got, err = tx.ListRefreshChains(registry.SubjectUser, "u-1", at(13*time.Hour))
			return err
		})
		if len(got) != 1 || got[0].ChainID != "ch-b" {
			t.Errorf("ListRefreshChains later = %+v, want only ch-b", got)
		}
	})
	t.Run("get", func(t *testing.T) {
		wantC := registry.RefreshChain{ChainID: "ch-c", SubjectType: registry.SubjectUser, SubjectID: "u-1", AccountID: acctA,
			StartedAt: at(0), RefreshedAt: at(0), ExpiresAt: at(20 * time.Hour), Revoked: true}
		for _, want := range []registry.RefreshChain{wantA, wantB, wantC} {
			var got *registry.RefreshChain
			view(t, s, func(tx registry.Tx) error {
				var err error
				got, err = tx.GetRefreshChain(want.ChainID, now)
				return err
			})
			if d := diff(&want, got); d != "" {
				t.Errorf("GetRefreshChain(%s) (-want +got):\n%s", want.ChainID, d)
			}
		}
		wantErr(t, "GetRefreshChain(unknown)", inTx(t, s, func(tx registry.Tx) error {
			_, err := tx.GetRefreshChain("no-such-chain", now)
			return err
		}), registry.ErrNotFound)
	})
	t.Run("revoked", func(t *testing.T) {
		revoked := func(chain string) bool {
			var ok bool
			view(t, s, func(tx registry.Tx) error {
				var err error
				ok, err = tx.RefreshChainRevoked(chain)
				return err
			})
			return ok
		}
		got := map[string]bool{}
		for _, c := range []string{"ch-a", "ch-b", "ch-c", "ch-d", "no-such-chain"} {
			got[c] = revoked(c)
		}
		want := map[string]bool{"ch-a": false, "ch-b": false, "ch-c": true, "ch-d": false, "no-such-chain": false}
		if d := diff(want, got); d != "" {
			t.Errorf("RefreshChainRevoked (-want +got):\n%s", d)
		}
		update(t, s, func(tx registry.Tx) error { return tx.RevokeRefreshChain("ch-a", now) })
		if !revoked("ch-a") {
			t.Error("a revoked chain is not reported revoked")
		}
	})
}
