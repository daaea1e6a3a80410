package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

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
			RunAsUserID: "u-run", RunAsRoleID: registry.RoleApprover, CreatedBy: "user:u1",
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
		want.AutoTrust, want.FullAPIAccess = false, false
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
			var (
				wg              sync.WaitGroup
				mu              sync.Mutex
				ok, limited     int
				unexpectedError error
			)
			for i := range workers {
				wg.Go(func() {
					err := s.Update(t.Context(), func(tx registry.Tx) error {
						return tx.RecordKeyUse(v.ID, at(time.Duration(i)), "192.0.2.1", true)
					})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, registry.ErrLimitReached):
						limited++
					default:
						unexpectedError = err
					}
				})
			}
			wg.Wait()
			if unexpectedError != nil {
				t.Fatalf("RecordKeyUse: %v", unexpectedError)
			}
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
