package storetest

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// testAPIKeys is long by design: one conformance table, read top to bottom
// like the contract it checks.
func testAPIKeys(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	keys := []registry.APIKey{
		{
			ID: "key-2", AccountID: acctA, Type: registry.KeyGeneral, Name: "general", Description: "d",
			Group: "g", Active: true, AllowUnauthenticated: true, AllowUntrustedEndpoints: true,
			AutoTrust: true, FullAPIAccess: true, ExpiresAt: at(24 * time.Hour),
			AllowedIPs: []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("192.0.2.7/32"),
				netip.MustParsePrefix("2001:db8::/32"),
				netip.MustParsePrefix("::ffff:10.1.0.0/112"),
			},
			RunAsUserID: "u-run", RunAsRoleID: registry.RoleApprover, Predefined: true, CreatedBy: "user:u1",
			CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Second),
		},
		// Zero ExpiresAt (never), no AllowedIPs (any address).
		{ID: "key-1", AccountID: acctA, Type: registry.KeyEmbedded, Name: "embedded", CreatedAt: at(time.Second)},
		{ID: "key-0", AccountID: acctB, Type: registry.KeyChrome, CreatedAt: at(0)},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range keys {
			if err := tx.CreateAPIKey(&keys[i]); err != nil {
				return err
			}
		}
		return nil
	})

	t.Run("round trip", func(t *testing.T) {
		view(t, s, func(tx registry.Tx) error {
			for _, want := range keys {
				got, err := tx.GetAPIKey(want.ID)
				if err != nil {
					t.Fatalf("GetAPIKey(%q): %v", want.ID, err)
				}
				if d := diff(&want, got); d != "" {
					t.Errorf("GetAPIKey(%q) mismatch (-want +got):\n%s", want.ID, d)
				}
			}
			return nil
		})
	})

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			account string
			want    []registry.APIKey
		}{
			{"", []registry.APIKey{keys[2], keys[1], keys[0]}},
			{acctA, []registry.APIKey{keys[1], keys[0]}},
			{acctB, []registry.APIKey{keys[2]}},
			{acctRoot, nil},
		}
		for _, tc := range tests {
			view(t, s, func(tx registry.Tx) error {
				got, err := tx.ListAPIKeys(tc.account)
				if err != nil {
					t.Fatalf("ListAPIKeys(%q): %v", tc.account, err)
				}
				if d := diff(tc.want, got); d != "" {
					t.Errorf("ListAPIKeys(%q) mismatch (-want +got):\n%s", tc.account, d)
				}
				return nil
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx registry.Tx) error {
			return tx.CreateAPIKey(&registry.APIKey{ID: "key-1", AccountID: acctB})
		})
		wantErr(t, "CreateAPIKey duplicate", err, registry.ErrConflict)
		err = s.Update(t.Context(), func(tx registry.Tx) error {
			return tx.UpdateAPIKey(&registry.APIKey{ID: "nope", AccountID: acctB})
		})
		wantErr(t, "UpdateAPIKey missing", err, registry.ErrNotFound)
		view(t, s, func(tx registry.Tx) error {
			_, err := tx.GetAPIKey("nope")
			wantErr(t, "GetAPIKey missing", err, registry.ErrNotFound)
			return nil
		})
	})

	t.Run("update", func(t *testing.T) {
		want := keys[0]
		want.AccountID = acctB
		want.Type = registry.KeyEdge
		want.Name, want.Description, want.Group = "n2", "d2", "g2"
		want.Active, want.AllowUnauthenticated, want.AllowUntrustedEndpoints = false, false, false
		want.AutoTrust, want.FullAPIAccess, want.Predefined = false, false, false
		want.ExpiresAt = time.Time{}
		want.AllowedIPs = nil
		want.RunAsUserID, want.RunAsRoleID, want.CreatedBy = "", "", "user:u2"
		want.UpdatedAt = at(time.Hour)
		update(t, s, func(tx registry.Tx) error { return tx.UpdateAPIKey(&want) })
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.GetAPIKey(want.ID)
			if err != nil {
				t.Fatalf("GetAPIKey: %v", err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("after UpdateAPIKey (-want +got):\n%s", d)
			}
			return nil
		})
	})
}

// seedKey creates account fixtures and API key "key-1" in acctA.
func seedKey(t *testing.T, s registry.Store) {
	t.Helper()
	seedAccounts(t, s)
	update(t, s, func(tx registry.Tx) error {
		return tx.CreateAPIKey(&registry.APIKey{ID: "key-1", AccountID: acctA, Type: registry.KeyGeneral, Active: true})
	})
}

func testKeyValues(t *testing.T, s registry.Store) {
	seedKey(t, s)
	update(t, s, func(tx registry.Tx) error {
		return tx.CreateAPIKey(&registry.APIKey{ID: "key-2", AccountID: acctA})
	})
	values := []registry.KeyValue{
		{
			ID: "kv-b", KeyID: "key-1", PublicID: "pub-b", SecretHash: []byte{0, 1, 2, 0xfe, 0xff},
			Description: "second", CreatedAt: at(0), ExpiresAt: at(time.Hour), RevokedAt: at(time.Minute),
			LastUsedAt: at(time.Second), LastUsedFrom: "192.0.2.1", UseCount: 3, UseLimit: 10,
			EdgeDevice: "edge-gw-01",
		},
		{ID: "kv-a", KeyID: "key-1", PublicID: "pub-a", SecretHash: []byte("hash-a"), CreatedAt: at(0)},
		{ID: "kv-c", KeyID: "key-2", PublicID: "pub-c", SecretHash: []byte("hash-c"), CreatedAt: at(-time.Hour)},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range values {
			if err := tx.CreateKeyValue(&values[i]); err != nil {
				return err
			}
		}
		return nil
	})

	view(t, s, func(tx registry.Tx) error {
		for _, want := range values {
			got, err := tx.GetKeyValueByPublicID(want.PublicID)
			if err != nil {
				t.Fatalf("GetKeyValueByPublicID(%q): %v", want.PublicID, err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("GetKeyValueByPublicID(%q) mismatch (-want +got):\n%s", want.PublicID, d)
			}
		}
		_, err := tx.GetKeyValueByPublicID("nope")
		wantErr(t, "GetKeyValueByPublicID missing", err, registry.ErrNotFound)
		for _, want := range values {
			got, err := tx.GetKeyValue(want.ID)
			if err != nil {
				t.Fatalf("GetKeyValue(%q): %v", want.ID, err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("GetKeyValue(%q) mismatch (-want +got):\n%s", want.ID, d)
			}
		}
		_, err = tx.GetKeyValue("nope")
		wantErr(t, "GetKeyValue missing", err, registry.ErrNotFound)
		_, err = tx.GetKeyValue("pub-a") // a public id is not an id
		wantErr(t, "GetKeyValue by public id", err, registry.ErrNotFound)
		for key, want := range map[string][]registry.KeyValue{
			"key-1": {values[1], values[0]},
			"key-2": {values[2]},
			"nope":  nil,
		} {
			got, err := tx.ListKeyValues(key)
			if err != nil {
				t.Fatalf("ListKeyValues(%q): %v", key, err)
			}
			if d := diff(want, got); d != "" {
				t.Errorf("ListKeyValues(%q) mismatch (-want +got):\n%s", key, d)
			}
		}
		return nil
	})

	tests := []struct {
		name string
		v    registry.KeyValue
		want error
	}{
		{"duplicate id", registry.KeyValue{ID: "kv-a", KeyID: "key-1", PublicID: "pub-new"}, registry.ErrConflict},
		{"duplicate public id", registry.KeyValue{ID: "kv-new", KeyID: "key-1", PublicID: "pub-a"}, registry.ErrConflict},
		{"missing key", registry.KeyValue{ID: "kv-new", KeyID: "nope", PublicID: "pub-new"}, registry.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.CreateKeyValue(&tc.v) })
			wantErr(t, "CreateKeyValue", err, tc.want)
		})
	}
}

func testRecordKeyUse(t *testing.T, s registry.Store) {
	seedKey(t, s)
	type use struct {
		consume bool
		want    error
	}
	tests := []struct {
		name      string
		limit     int64
		uses      []use
		wantCount int64
	}{
		{"unlimited", 0, []use{{true, nil}, {true, nil}, {true, nil}, {false, nil}}, 3},
		{"limit 2", 2, []use{{true, nil}, {true, nil}, {true, registry.ErrLimitReached}, {true, registry.ErrLimitReached}}, 2},
		{"non-consuming past the limit", 1, []use{{true, nil}, {false, nil}, {true, registry.ErrLimitReached}, {false, nil}}, 1},
		{"only non-consuming", 1, []use{{false, nil}, {false, nil}}, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := registry.KeyValue{
				ID: fmt.Sprintf("kv-%d", i), KeyID: "key-1", PublicID: fmt.Sprintf("pub-%d", i),
				SecretHash: []byte("h"), CreatedAt: at(0), UseLimit: tc.limit,
			}
			update(t, s, func(tx registry.Tx) error { return tx.CreateKeyValue(&v) })
			want := v
			for j, u := range tc.uses {
				when := at(time.Duration(j+1) * time.Minute)
				from := fmt.Sprintf("192.0.2.%d", j+1)
				err := s.Update(t.Context(), func(tx registry.Tx) error {
					return tx.RecordKeyUse(v.ID, when, from, u.consume)
				})
				wantErr(t, fmt.Sprintf("use %d (consume=%v)", j, u.consume), err, u.want)
				if err == nil {
					want.LastUsedAt, want.LastUsedFrom = when, from
				}
			}
			want.UseCount = tc.wantCount
			view(t, s, func(tx registry.Tx) error {
				got, err := tx.GetKeyValueByPublicID(v.PublicID)
				if err != nil {
					t.Fatalf("GetKeyValueByPublicID: %v", err)
				}
				if d := diff(&want, got); d != "" {
					t.Errorf("after uses (-want +got):\n%s", d)
				}
				return nil
			})
		})
	}
	t.Run("missing", func(t *testing.T) {
		for _, consume := range []bool{true, false} {
			err := s.Update(t.Context(), func(tx registry.Tx) error {
				return tx.RecordKeyUse("nope", at(0), "192.0.2.1", consume)
			})
			wantErr(t, fmt.Sprintf("RecordKeyUse(consume=%v) missing", consume), err, registry.ErrNotFound)
		}
	})
}

func testRecordKeyUseConcurrent(t *testing.T, s registry.Store) {
	seedKey(t, s)
	const workers = 64
	for _, limit := range []int64{1, 5} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			v := registry.KeyValue{
				ID: fmt.Sprintf("kv-%d", limit), KeyID: "key-1", PublicID: fmt.Sprintf("pub-%d", limit),
				SecretHash: []byte("h"), UseLimit: limit,
			}
			update(t, s, func(tx registry.Tx) error { return tx.CreateKeyValue(&v) })
			ok, limited := race(t, s, "RecordKeyUse", workers, registry.ErrLimitReached, func(i int, tx registry.Tx) error {
				return tx.RecordKeyUse(v.ID, at(time.Duration(i)), "192.0.2.1", true)
			})
			if ok != int(limit) || limited != workers-int(limit) {
				t.Errorf("%d succeeded and %d hit the limit, want %d and %d", ok, limited, limit, workers-int(limit))
			}
			view(t, s, func(tx registry.Tx) error {
				got, err := tx.GetKeyValueByPublicID(v.PublicID)
				if err != nil {
					t.Fatalf("GetKeyValueByPublicID: %v", err)
				}
				if got.UseCount != limit {
					t.Errorf("UseCount = %d, want %d", got.UseCount, limit)
				}
				return nil
			})
		})
	}
}

func testListAPIKeysRunningAs(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	keys := []registry.APIKey{
		{ID: "key-c", AccountID: acctA, RunAsUserID: "u1", RunAsRoleID: registry.RoleApprover, CreatedAt: at(time.Second)},
		{ID: "key-b", AccountID: acctB, RunAsUserID: "u1", CreatedAt: at(time.Second)},
		{ID: "key-a", AccountID: acctA, RunAsUserID: "u2", CreatedAt: at(0)},
		{ID: "key-none", AccountID: acctA, CreatedAt: at(0)},
		{ID: "key-z", AccountID: acctRoot, RunAsUserID: "u1", CreatedAt: at(-time.Hour)},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range keys {
			if err := tx.CreateAPIKey(&keys[i]); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		user string
		want []registry.APIKey // ordered by CreatedAt, ID
	}{
		{"u1", []registry.APIKey{keys[4], keys[1], keys[0]}},
		{"u2", []registry.APIKey{keys[2]}},
		{"U1", nil}, // ids are exact
		{"nope", nil},
		{"", nil}, // not the keys that run as nobody
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			view(t, s, func(tx registry.Tx) error {
				got, err := tx.ListAPIKeysRunningAs(tc.user)
				if err != nil {
					t.Fatalf("ListAPIKeysRunningAs(%q): %v", tc.user, err)
				}
				if d := diff(tc.want, got); d != "" {
					t.Errorf("ListAPIKeysRunningAs(%q) mismatch (-want +got):\n%s", tc.user, d)
				}
				return nil
			})
		})
	}
}

func testDeleteAPIKey(t *testing.T, s registry.Store) {
	seedKey(t, s)
	other := registry.KeyValue{ID: "kv-other", KeyID: "key-2", PublicID: "pub-other", SecretHash: []byte("h"), CreatedAt: at(0)}
	update(t, s, func(tx registry.Tx) error {
		if err := tx.CreateAPIKey(&registry.APIKey{ID: "key-2", AccountID: acctA}); err != nil {
			return err
		}
		for _, v := range []registry.KeyValue{
			{ID: "kv-1", KeyID: "key-1", PublicID: "pub-1", SecretHash: []byte("h1"), UseCount: 2},
			{ID: "kv-2", KeyID: "key-1", PublicID: "pub-2", SecretHash: []byte("h2"), EdgeDevice: "gw"},
			other,
		} {
			if err := tx.CreateKeyValue(&v); err != nil {
				return err
			}
		}
		return nil
	})
	ep := fullEndpoint("ep-1") // registered with key-1, value kv-1
	update(t, s, func(tx registry.Tx) error { return tx.CreateEndpoint(&ep) })

	update(t, s, func(tx registry.Tx) error { return tx.DeleteAPIKey("key-1") })
	view(t, s, func(tx registry.Tx) error {
		_, err := tx.GetAPIKey("key-1")
		wantErr(t, "GetAPIKey after delete", err, registry.ErrNotFound)
		for _, id := range []string{"kv-1", "kv-2"} {
			_, err := tx.GetKeyValue(id)
			wantErr(t, "GetKeyValue("+id+") after deleting its key", err, registry.ErrNotFound)
		}
		for _, pub := range []string{"pub-1", "pub-2"} {
			_, err := tx.GetKeyValueByPublicID(pub)
			wantErr(t, "GetKeyValueByPublicID("+pub+") after deleting its key", err, registry.ErrNotFound)
		}
		vs, err := tx.ListKeyValues("key-1")
		if err != nil || len(vs) != 0 {
			t.Errorf("ListKeyValues of the deleted key = %+v, %v; want none", vs, err)
		}
		got, err := tx.ListKeyValues("key-2")
		if err != nil {
			t.Fatalf("ListKeyValues: %v", err)
		}
		if d := diff([]registry.KeyValue{other}, got); d != "" {
			t.Errorf("other key's values (-want +got):\n%s", d)
		}
		return nil
	})
	// Issue 12: the public ids of its values are kept, to name a refusal.
	view(t, s, func(tx registry.Tx) error {
		for _, pub := range []string{"pub-1", "pub-2"} {
			got, err := tx.GetDeletedKeyValue(pub)
			if err != nil {
				t.Fatalf("GetDeletedKeyValue(%s): %v", pub, err)
			}
			if d := diff(&registry.DeletedKeyValue{PublicID: pub, KeyID: "key-1", AccountID: acctA}, got); d != "" {
				t.Errorf("GetDeletedKeyValue(%s) (-want +got):\n%s", pub, d)
			}
		}
		_, err := tx.GetDeletedKeyValue("pub-other")
		wantErr(t, "GetDeletedKeyValue of a live value", err, registry.ErrNotFound)
		return nil
	})
	// SPEC K12: the endpoint stays, still naming the key it registered with.
	if d := diff(&ep, getEndpoint(t, s, ep.ID)); d != "" {
		t.Errorf("endpoint after deleting its key (-want +got):\n%s", d)
	}

	err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.DeleteAPIKey("key-1") })
	wantErr(t, "DeleteAPIKey again", err, registry.ErrNotFound)
	err = s.Update(t.Context(), func(tx registry.Tx) error { return tx.DeleteAPIKey("nope") })
	wantErr(t, "DeleteAPIKey missing", err, registry.ErrNotFound)
	// A failed delete changes nothing; the freed public ids can be reused.
	update(t, s, func(tx registry.Tx) error {
		if err := tx.CreateAPIKey(&registry.APIKey{ID: "key-3", AccountID: acctA}); err != nil {
			return err
		}
		return tx.CreateKeyValue(&registry.KeyValue{ID: "kv-1", KeyID: "key-3", PublicID: "pub-1", SecretHash: []byte("h")})
	})
}

func testCountAPIKeys(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	update(t, s, func(tx registry.Tx) error {
		for _, k := range []registry.APIKey{
			{ID: "k1", AccountID: acctA}, {ID: "k2", AccountID: acctA, Active: true},
			{ID: "k3", AccountID: acctA, Predefined: true}, {ID: "k4", AccountID: acctB},
		} {
			if err := tx.CreateAPIKey(&k); err != nil {
				return err
			}
		}
		return tx.DeleteAPIKey("k2")
	})
	// Counts are per account, not per subtree.
	for account, want := range map[string]int{acctA: 2, acctB: 1, acctRoot: 0, "nope": 0} {
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.CountAPIKeys(account)
			if err != nil {
				t.Fatalf("CountAPIKeys(%q): %v", account, err)
			}
			if got != want {
				t.Errorf("CountAPIKeys(%q) = %d, want %d", account, got, want)
			}
			return nil
		})
	}
}

func testUpdateKeyValue(t *testing.T, s registry.Store) {
	seedKey(t, s)
	orig := registry.KeyValue{
		ID: "kv-1", KeyID: "key-1", PublicID: "pub-old", SecretHash: []byte("old-hash"), Description: "first",
		CreatedAt: at(0), ExpiresAt: at(time.Hour), LastUsedAt: at(time.Minute), LastUsedFrom: "192.0.2.1",
		UseCount: 3, UseLimit: 3,
	}
	update(t, s, func(tx registry.Tx) error {
		if err := tx.CreateAPIKey(&registry.APIKey{ID: "key-2", AccountID: acctA}); err != nil {
			return err
		}
		if err := tx.CreateKeyValue(&orig); err != nil {
			return err
		}
		return tx.CreateKeyValue(&registry.KeyValue{ID: "kv-taken", KeyID: "key-1", PublicID: "pub-taken", SecretHash: []byte("h")})
	})
	getByID := func(t *testing.T) *registry.KeyValue {
		t.Helper()
		var v *registry.KeyValue
		view(t, s, func(tx registry.Tx) error {
			var err error
			v, err = tx.GetKeyValue(orig.ID)
			return err
		})
		return v
	}

	t.Run("regenerate", func(t *testing.T) {
		// Usage fields, KeyID and CreatedAt in the argument are ignored.
		upd := registry.KeyValue{
			ID: orig.ID, KeyID: "key-2", PublicID: "pub-new", SecretHash: []byte{0, 0xff, 1}, Description: "regenerated",
			CreatedAt: at(time.Hour), RevokedAt: at(2 * time.Hour), LastUsedAt: at(3 * time.Hour),
			LastUsedFrom: "198.51.100.9", UseCount: 0, UseLimit: 5, EdgeDevice: "gw-7",
		}
		update(t, s, func(tx registry.Tx) error { return tx.UpdateKeyValue(&upd) })
		want := orig
		want.PublicID, want.SecretHash, want.Description = upd.PublicID, upd.SecretHash, upd.Description
		want.ExpiresAt, want.RevokedAt, want.UseLimit, want.EdgeDevice = time.Time{}, upd.RevokedAt, 5, "gw-7"
		if d := diff(&want, getByID(t)); d != "" {
			t.Errorf("after UpdateKeyValue (-want +got):\n%s", d)
		}
		view(t, s, func(tx registry.Tx) error {
			_, err := tx.GetKeyValueByPublicID("pub-old")
			wantErr(t, "old public id after regenerate", err, registry.ErrNotFound)
			got, err := tx.GetKeyValueByPublicID("pub-new")
			if err != nil {
				t.Fatalf("GetKeyValueByPublicID(new): %v", err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("by new public id (-want +got):\n%s", d)
			}
			return nil
		})
	})

	t.Run("use count carries over", func(t *testing.T) {
		// UseCount is still 3 and UseLimit now 5: two more uses.
		for i, want := range []error{nil, nil, registry.ErrLimitReached} {
			err := s.Update(t.Context(), func(tx registry.Tx) error {
				return tx.RecordKeyUse(orig.ID, at(4*time.Hour), "192.0.2.2", true)
			})
			wantErr(t, fmt.Sprintf("use %d", i), err, want)
		}
		if got := getByID(t).UseCount; got != 5 {
			t.Errorf("UseCount = %d, want 5", got)
		}
	})

	t.Run("clear", func(t *testing.T) {
		before := getByID(t)
		upd := registry.KeyValue{ID: orig.ID, PublicID: "pub-cleared"}
		update(t, s, func(tx registry.Tx) error { return tx.UpdateKeyValue(&upd) })
		want := *before
		want.PublicID, want.SecretHash, want.Description = "pub-cleared", nil, ""
		want.ExpiresAt, want.RevokedAt, want.UseLimit, want.EdgeDevice = time.Time{}, time.Time{}, 0, ""
		if d := diff(&want, getByID(t)); d != "" {
			t.Errorf("after clearing UpdateKeyValue (-want +got):\n%s", d)
		}
	})

	t.Run("errors", func(t *testing.T) {
		before := getByID(t)
		tests := []struct {
			name string
			v    registry.KeyValue
			want error
		}{
			{"duplicate public id", registry.KeyValue{ID: orig.ID, PublicID: "pub-taken", Description: "x"}, registry.ErrConflict},
			{"missing", registry.KeyValue{ID: "nope", PublicID: "pub-nope"}, registry.ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.UpdateKeyValue(&tc.v) })
				wantErr(t, "UpdateKeyValue", err, tc.want)
			})
		}
		if d := diff(before, getByID(t)); d != "" {
			t.Errorf("failed updates changed the value (-want +got):\n%s", d)
		}
	})
}
