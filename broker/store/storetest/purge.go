package storetest

import (
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func testPurgeRefreshTokens(t *testing.T, s registry.Store) {
	old := token("rt-old", "c1", registry.SubjectEndpoint, "ep-1", "")
	old.ExpiresAt = at(time.Hour)
	oldUsed := token("rt-old-used", "c1", registry.SubjectEndpoint, "ep-1", "")
	oldUsed.Hash = []byte("hash-old-used")
	oldUsed.ExpiresAt, oldUsed.UsedAt, oldUsed.RevokedAt = at(2*time.Hour), at(time.Minute), at(time.Minute)
	edge := token("rt-edge", "c2", registry.SubjectUser, "u-1", "")
	edge.ExpiresAt = at(3 * time.Hour) // expires exactly at the cut-off: kept
	live := token("rt-live", "c3", registry.SubjectUser, "u-1", "")
	live.ExpiresAt = at(48 * time.Hour)
	createTokens(t, s, old, oldUsed, edge, live)

	var n int
	update(t, s, func(tx registry.Tx) error {
		var err error
		n, err = tx.PurgeRefreshTokens(at(3 * time.Hour))
		return err
	})
	if n != 2 {
		t.Errorf("purged %d tokens, want 2", n)
	}
	for _, tok := range []registry.RefreshToken{old, oldUsed} {
		_, err := consume(t, s, tok.Hash, at(0))
		wantErr(t, "consume purged "+tok.ID, err, registry.ErrNotFound)
	}
	for _, tok := range []registry.RefreshToken{edge, live} {
		_, err := consume(t, s, tok.Hash, at(0))
		wantErr(t, "consume kept "+tok.ID, err, nil)
	}
}
