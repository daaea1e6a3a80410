package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
)

// TestKeyValueRoutes walks one key through its values' life: show, usage,
// add, regenerate, revoke, update and delete. It is long because each step
// depends on the state the previous one left.
func TestKeyValueRoutes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	ck, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "fleet", AutoTrust: true})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("show", func(t *testing.T) {
		k, err := h.c.GetKey(ctx, ck.ID)
		if err != nil {
			t.Fatalf("GetKey: %v", err)
		}
		if diff := cmp.Diff(ck.Key, k.Key); diff != "" {
			t.Errorf("key (-want +got):\n%s", diff)
		}
		if len(k.Values) != 1 || k.Values[0].ID != ck.ValueID || k.Values[0].UseCount != 0 || k.Values[0].LastUsedAt != nil {
			t.Errorf("values %+v, want the one unused value %s", k.Values, ck.ValueID)
		}
		_, body := h.admin(t, "GET", "/api/v1/keys/"+ck.ID, nil)
		if strings.Contains(string(body), "etk_") || strings.Contains(string(body), "hash") {
			t.Errorf("key JSON shows a secret: %s", body)
		}
	})

	h.registerFrom(t, ck.Value, "first", "10.1.2.3")
	t.Run("usage is shown", func(t *testing.T) {
		k, err := h.c.GetKey(ctx, ck.ID)
		if err != nil {
			t.Fatal(err)
		}
		v := k.Values[0]
		if v.UseCount != 1 || v.LastUsedAt == nil || v.LastUsedFrom != "10.1.2.3" {
			t.Errorf("value after one registration %+v, want use count 1 from 10.1.2.3", v)
		}
	})

	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	added, err := h.c.AddKeyValue(ctx, ck.ID, api.AddValueRequest{Description: "batch 2", UseLimit: 1, ExpiresAt: &exp})
	if err != nil {
		t.Fatalf("AddKeyValue: %v", err)
	}
	if added.ID != ck.ID || added.ValueID == "" || added.ValueID == ck.ValueID || !strings.HasPrefix(added.Value, "etk_") {
		t.Fatalf("added value %+v", added)
	}

	t.Run("regenerate needs the value on a key with several", func(t *testing.T) {
		status, body := h.admin(t, "POST", "/api/v1/keys/"+ck.ID+"/regenerate", nil)
		wantError(t, status, body, 400, "invalid_request", added.ValueID)
	})
	t.Run("regenerate", func(t *testing.T) {
		cv, err := h.c.RegenerateKeyValue(ctx, ck.ID, ck.ValueID)
		if err != nil {
			t.Fatalf("RegenerateKeyValue: %v", err)
		}
		if cv.ID != ck.ID || cv.ValueID != ck.ValueID || cv.Value == ck.Value || !strings.HasPrefix(cv.Value, "etk_") {
			t.Fatalf("regenerated %+v: want the same ids and a new value", cv)
		}
		// The old secret is dead at once, the new one works.
		pub, _, _ := ed25519.GenerateKey(nil)
		_, err = h.reg.Register(ctx, registry.RegisterRequest{APIKey: ck.Value, ClientID: uuid.NewString(), ClientType: protocol.ClientDesktop,
			KeyType: registry.KeyTypeEd25519, PublicKey: pub, Remote: netip.MustParseAddr("10.1.2.3")})
		if registry.KindOf(err) != registry.KindInvalidClient {
			t.Errorf("registering with the old value = %v, want invalid_client", err)
		}
		h.registerFrom(t, cv.Value, "second", "10.1.2.4")
		k, _ := h.c.GetKey(ctx, ck.ID)
		if k.Values[0].UseCount != 2 {
			t.Errorf("use count after regenerate and one more use = %d, want 2 (history kept)", k.Values[0].UseCount)
		}
	})
	t.Run("revoke value", func(t *testing.T) {
		if err := h.c.RevokeKeyValue(ctx, ck.ID, added.ValueID); err != nil {
			t.Fatalf("RevokeKeyValue: %v", err)
		}
		if err := h.c.RevokeKeyValue(ctx, ck.ID, added.ValueID); err != nil {
			t.Errorf("revoking twice = %v, want no-op", err)
		}
		k, _ := h.c.GetKey(ctx, ck.ID)
		got := map[string]bool{}
		for _, v := range k.Values {
			got[v.ID] = v.Revoked && v.RevokedAt != nil
		}
		if diff := cmp.Diff(map[string]bool{ck.ValueID: false, added.ValueID: true}, got); diff != "" {
			t.Errorf("revoked (-want +got):\n%s", diff)
		}
		status, body := h.admin(t, "DELETE", "/api/v1/keys/"+ck.ID+"/values/"+uuid.NewString(), nil)
		wantError(t, status, body, 404, "not_found", "")
	})

	t.Run("update", func(t *testing.T) {
		f, tr := false, true
		later := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		steps := []struct {
			name string
			req  api.UpdateKeyRequest
			want func(k *api.Key)
		}{
			{"deactivate", api.UpdateKeyRequest{Active: &f}, func(k *api.Key) { k.Active = false }},
			{"auto-trust off, expiry", api.UpdateKeyRequest{AutoTrust: &f, ExpiresAt: &later}, func(k *api.Key) { k.AutoTrust, k.ExpiresAt = false, &later }},
			{"allowed ips replace", api.UpdateKeyRequest{AllowedIPs: &[]string{"10.0.0.0/8", "192.168.1.7"}}, func(k *api.Key) { k.AllowedIPs = []string{"10.0.0.0/8", "192.168.1.7"} }},
			{"no expiry, reactivate", api.UpdateKeyRequest{NoExpiry: true, Active: &tr}, func(k *api.Key) { k.ExpiresAt, k.Active = nil, true }},
			{"clear allowed ips", api.UpdateKeyRequest{AllowedIPs: &[]string{}}, func(k *api.Key) { k.AllowedIPs = []string{} }},
		}
		want := ck.Key
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				got, err := h.c.UpdateKey(ctx, ck.ID, s.req)
				if err != nil {
					t.Fatalf("UpdateKey: %v", err)
				}
				s.want(&want)
				if diff := cmp.Diff(want, got.Key, cmpopts.IgnoreFields(api.Key{}, "UpdatedAt")); diff != "" {
					t.Errorf("key (-want +got):\n%s", diff)
				}
				if len(got.Values) != 2 {
					t.Errorf("update answers %d values, want 2", len(got.Values))
				}
			})
		}
		for _, tc := range []struct {
			name, body, inDesc string
		}{
			{"expiry and no expiry", `{"expires_at":"2030-01-01T00:00:00Z","no_expiry":true}`, "not both"},
			{"past expiry", `{"expires_at":"2001-01-01T00:00:00Z"}`, "past"},
			{"bad ip", `{"allowed_ips":["10.0.0.300"]}`, "allowed_ips[0]"},
			{"wrong type", `{"active":"no"}`, `"active"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := h.admin(t, "PATCH", "/api/v1/keys/"+ck.ID, tc.body)
				wantError(t, status, body, 400, "invalid_request", tc.inDesc)
			})
		}
	})

	t.Run("add value errors", func(t *testing.T) {
		status, body := h.admin(t, "POST", "/api/v1/keys/"+ck.ID+"/values", `{"description":"x","use_limit":-1}`)
		wantError(t, status, body, 400, "invalid_request", "use_limit")
		status, body = h.admin(t, "POST", "/api/v1/keys/"+uuid.NewString()+"/values", `{"description":"x"}`)
		wantError(t, status, body, 404, "not_found", "")
	})

	t.Run("delete", func(t *testing.T) {
		if err := h.c.DeleteKey(ctx, ck.ID); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
		if _, err := h.c.GetKey(ctx, ck.ID); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("GetKey after delete = %v, want 404", err)
		}
		// Endpoints it registered stay trusted (SPEC K12).
		eps, err := h.c.ListEndpoints(ctx, api.EndpointFilter{KeyID: ck.ID, State: "trusted"})
		if err != nil || len(eps) != 2 {
			t.Errorf("trusted endpoints of the deleted key = %d (%v), want 2", len(eps), err)
		}
	})
}
