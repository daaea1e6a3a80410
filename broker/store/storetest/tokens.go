package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func token(id, chain, subjectType, subjectID, endpointID string) registry.RefreshToken {
	return registry.RefreshToken{
		ID: id, Hash: []byte("hash-" + id), ChainID: chain, SubjectType: subjectType,
		SubjectID: subjectID, AccountID: acctA, EndpointID: endpointID,
		IssuedAt: at(0), ExpiresAt: at(24 * time.Hour),
	}
}

func createTokens(t *testing.T, s registry.Store, tokens ...registry.RefreshToken) {
	t.Helper()
	update(t, s, func(tx registry.Tx) error {
		for i := range tokens {
			if err := tx.CreateRefreshToken(&tokens[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// consume runs ConsumeRefreshToken in its own Update, which commits even
// when the consume fails (the error is returned, not propagated).
func consume(t *testing.T, s registry.Store, hash []byte, when time.Time) (*registry.RefreshToken, error) {
	t.Helper()
	var (
		got  *registry.RefreshToken
		cerr error
	)
	update(t, s, func(tx registry.Tx) error {
		got, cerr = tx.ConsumeRefreshToken(hash, when)
		return nil
	})
	return got, cerr
}

func testRefreshTokens(t *testing.T, s registry.Store) {
	t.Run("single use", func(t *testing.T) {
		tok := token("rt-1", "chain-1", registry.SubjectEndpoint, "ep-1", "")
		tok.Hash = []byte{0, 0xff, 1, 2} // arbitrary bytes
		createTokens(t, s, tok)

		used := at(time.Hour)
		got, err := consume(t, s, tok.Hash, used)
		wantErr(t, "first consume", err, nil)
		want := tok
		want.UsedAt = used
		if d := diff(&want, got); d != "" {
			t.Errorf("first consume (-want +got):\n%s", d)
		}

		got, err = consume(t, s, tok.Hash, at(2*time.Hour))
		wantErr(t, "second consume", err, registry.ErrConflict)
		if d := diff(&want, got); d != "" {
			t.Errorf("second consume returned (-want +got):\n%s", d)
		}
	})

	t.Run("successors", func(t *testing.T) {
		// SPEC R24: a token names its parent; a parent lists its successors.
		root := token("rt-root", "chain-s", registry.SubjectEndpoint, "ep-1", "")
		a := token("rt-a", "chain-s", registry.SubjectEndpoint, "ep-1", "")
		a.ParentID = root.ID
		b := token("rt-b", "chain-s", registry.SubjectEndpoint, "ep-1", "")
		b.ParentID = root.ID
		grandchild := token("rt-a1", "chain-s", registry.SubjectEndpoint, "ep-1", "")
		grandchild.ParentID = a.ID
		createTokens(t, s, root, a, b, grandchild)
		got, err := consume(t, s, a.Hash, at(time.Minute))
		wantErr(t, "consume", err, nil)
		wantA := a
		wantA.UsedAt = at(time.Minute)
		if d := diff(&wantA, got); d != "" {
			t.Errorf("consume (-want +got):\n%s", d)
		}
		tests := []struct {
			parent string
			want   []registry.RefreshToken
		}{
			{root.ID, []registry.RefreshToken{wantA, b}},
			{a.ID, []registry.RefreshToken{grandchild}},
			{b.ID, nil},
			{"", nil}, // first tokens of chains are nobody's successors
			{"nope", nil},
		}
		for _, tc := range tests {
			t.Run("parent "+tc.parent, func(t *testing.T) {
				var got []registry.RefreshToken
				view(t, s, func(tx registry.Tx) error {
					var err error
					got, err = tx.ListRefreshSuccessors(tc.parent)
					return err
				})
				slices.SortFunc(got, func(x, y registry.RefreshToken) int { return strings.Compare(x.ID, y.ID) })
				if d := diff(tc.want, got); d != "" {
					t.Errorf("ListRefreshSuccessors(%q) (-want +got):\n%s", tc.parent, d)
				}
			})
		}
	})

	t.Run("user token round trip", func(t *testing.T) {
		tok := token("rt-user", "chain-u", registry.SubjectUser, "u-1", "ep-1")
		createTokens(t, s, tok)
		got, err := consume(t, s, tok.Hash, at(time.Minute))
		wantErr(t, "consume", err, nil)
		want := tok
		want.UsedAt = at(time.Minute)
		if d := diff(&want, got); d != "" {
			t.Errorf("consume (-want +got):\n%s", d)
		}
	})

	t.Run("unusable", func(t *testing.T) {
		revoked := token("rt-revoked", "chain-r", registry.SubjectEndpoint, "ep-1", "")
		revoked.RevokedAt = at(time.Minute)
		tests := []struct {
			name string
			tok  registry.RefreshToken
			when time.Time
		}{
			{"expired", token("rt-expired", "chain-e", registry.SubjectEndpoint, "ep-1", ""), at(25 * time.Hour)},
			{"expires exactly now", token("rt-now", "chain-n", registry.SubjectEndpoint, "ep-1", ""), at(24 * time.Hour)},
			{"revoked", revoked, at(time.Hour)},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				createTokens(t, s, tc.tok)
				got, err := consume(t, s, tc.tok.Hash, tc.when)
				wantErr(t, "consume", err, registry.ErrConflict)
				// Nothing changed, and the token comes back for chain revocation.
				if d := diff(&tc.tok, got); d != "" {
					t.Errorf("consume returned (-want +got):\n%s", d)
				}
			})
		}
	})

	t.Run("not found", func(t *testing.T) {
		got, err := consume(t, s, []byte("no such hash"), at(0))
		wantErr(t, "consume", err, registry.ErrNotFound)
		if got != nil {
			t.Errorf("consume returned %+v, want nil", got)
		}
	})

	t.Run("duplicates", func(t *testing.T) {
		createTokens(t, s, token("rt-dup", "c", registry.SubjectEndpoint, "ep-1", ""))
		sameID := token("rt-dup", "c", registry.SubjectEndpoint, "ep-1", "")
		sameID.Hash = []byte("another hash")
		sameHash := token("rt-dup-2", "c", registry.SubjectEndpoint, "ep-1", "")
		sameHash.Hash = []byte("hash-rt-dup")
		for name, tok := range map[string]registry.RefreshToken{"id": sameID, "hash": sameHash} {
			err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.CreateRefreshToken(&tok) })
			wantErr(t, "CreateRefreshToken duplicate "+name, err, registry.ErrConflict)
		}
	})
}

func testConsumeRefreshTokenConcurrent(t *testing.T, s registry.Store) {
	tok := token("rt-race", "chain", registry.SubjectEndpoint, "ep-1", "")
	createTokens(t, s, tok)
	const workers = 32
	ok, reused := race(t, s, "ConsumeRefreshToken", workers, registry.ErrConflict, func(i int, tx registry.Tx) error {
		_, err := tx.ConsumeRefreshToken(tok.Hash, at(time.Duration(i)*time.Second))
		return err
	})
	if ok != 1 || reused != workers-1 {
		t.Errorf("%d consumes succeeded and %d conflicted, want 1 and %d", ok, reused, workers-1)
	}
}

// revokedAt reports when each token was revoked (zero = usable), by
// consuming it; consumed tokens are not reusable afterwards.
func revokedAt(t *testing.T, s registry.Store, tokens []registry.RefreshToken, when time.Time) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	for _, tok := range tokens {
		rt, err := consume(t, s, tok.Hash, when)
		switch {
		case err == nil:
			got[tok.ID] = time.Time{}
		case errors.Is(err, registry.ErrConflict):
			got[tok.ID] = rt.RevokedAt
		default:
			t.Fatalf("consume %s: %v", tok.ID, err)
		}
	}
	return got
}

func testRevokeRefreshChain(t *testing.T, s registry.Store) {
	earlier := at(time.Minute)
	already := token("c1-old", "chain-1", registry.SubjectEndpoint, "ep-1", "")
	already.RevokedAt = earlier
	tokens := []registry.RefreshToken{
		token("c1-a", "chain-1", registry.SubjectEndpoint, "ep-1", ""),
		token("c1-b", "chain-1", registry.SubjectEndpoint, "ep-1", ""),
		already,
		token("c2-a", "chain-2", registry.SubjectEndpoint, "ep-1", ""),
	}
	createTokens(t, s, tokens...)
	when := at(time.Hour)
	update(t, s, func(tx registry.Tx) error { return tx.RevokeRefreshChain("chain-1", when) })
	update(t, s, func(tx registry.Tx) error { return tx.RevokeRefreshChain("no-such-chain", when) })
	want := map[string]time.Time{"c1-a": when, "c1-b": when, "c1-old": earlier, "c2-a": {}}
	if d := diff(want, revokedAt(t, s, tokens, at(2*time.Hour))); d != "" {
		t.Errorf("revocations (-want +got):\n%s", d)
	}
}

func testRevokeRefreshTokensOf(t *testing.T, s registry.Store) {
	tests := []struct {
		subjectType, subjectID string
		want                   []string // revoked token ids
	}{
		// An endpoint's own tokens and the user tokens issued through it.
		{registry.SubjectEndpoint, "ep-1", []string{"ep1", "ep1-b", "u1-via-ep1", "u2-via-ep1"}},
		{registry.SubjectEndpoint, "ep-2", []string{"ep2", "u1-via-ep2"}},
		// A user's tokens, whatever endpoint they came through.
		{registry.SubjectUser, "u-1", []string{"u1-via-ep1", "u1-via-ep2", "u1-direct"}},
		// A user whose id equals an endpoint id does not take the endpoint's tokens.
		{registry.SubjectUser, "ep-1", []string{"user-ep-1"}},
		{registry.SubjectEndpoint, "nope", nil},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s %s", tc.subjectType, tc.subjectID), func(t *testing.T) {
			tok := func(id, subjectType, subjectID, endpointID string) registry.RefreshToken {
				id = fmt.Sprintf("%d-%s", i, id) // fresh tokens for each case
				rt := token(id, "chain-"+id, subjectType, subjectID, endpointID)
				return rt
			}
			tokens := []registry.RefreshToken{
				tok("ep1", registry.SubjectEndpoint, "ep-1", ""),
				tok("ep1-b", registry.SubjectEndpoint, "ep-1", ""),
				tok("ep2", registry.SubjectEndpoint, "ep-2", ""),
				tok("u1-via-ep1", registry.SubjectUser, "u-1", "ep-1"),
				tok("u2-via-ep1", registry.SubjectUser, "u-2", "ep-1"),
				tok("u1-via-ep2", registry.SubjectUser, "u-1", "ep-2"),
				tok("u1-direct", registry.SubjectUser, "u-1", ""),
				tok("user-ep-1", registry.SubjectUser, "ep-1", ""),
			}
			createTokens(t, s, tokens...)
			when := at(time.Hour)
			update(t, s, func(tx registry.Tx) error {
				return tx.RevokeRefreshTokensOf(tc.subjectType, tc.subjectID, when)
			})
			want := map[string]time.Time{}
			for _, rt := range tokens {
				want[rt.ID] = time.Time{}
			}
			for _, id := range tc.want {
				want[fmt.Sprintf("%d-%s", i, id)] = when
			}
			if d := diff(want, revokedAt(t, s, tokens, at(2*time.Hour))); d != "" {
				t.Errorf("revocations (-want +got):\n%s", d)
			}
		})
	}
}
