package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	inactive := false

	tests := []struct {
		name string
		req  api.CreateKeyRequest
		want api.Key // ID, CreatedBy and times are ignored
	}{
		{
			name: "defaults",
			req:  api.CreateKeyRequest{AccountID: acct, Name: "plain"},
			want: api.Key{Name: "plain", Type: "general", AccountID: acct, AccountName: "default", Active: true, AllowedIPs: []string{}, CreatedByName: "admin"},
		},
		{
			name: "every setting",
			req: api.CreateKeyRequest{
				AccountID: acct, Name: "kiosk", Type: "embedded", Description: "lobby", Group: "g1",
				Active: &inactive, AutoTrust: true, AllowUntrustedEndpoints: true, AllowUnauthenticated: true,
				ExpiresAt: &exp, AllowedIPs: []string{"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "10.1.2.3/8"},
			},
			want: api.Key{
				Name: "kiosk", Type: "embedded", AccountID: acct, AccountName: "default", CreatedByName: "admin", Description: "lobby", Group: "g1",
				AutoTrust: true, AllowUntrustedEndpoints: true, AllowUnauthenticated: true,
				ExpiresAt: &exp, AllowedIPs: []string{"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "10.0.0.0/8"},
			},
		},
	}
	ignore := cmpopts.IgnoreFields(api.Key{}, "ID", "CreatedBy", "CreatedAt", "UpdatedAt")
	created := map[string]api.Key{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ck, err := h.c.CreateKey(ctx, tc.req)
			if err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			if diff := cmp.Diff(tc.want, ck.Key, ignore); diff != "" {
				t.Errorf("created key (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(ck.Value, "etk_") || ck.ValueID == "" || ck.ID == "" {
				t.Errorf("value %q, value id %q, id %q: want etk_ value and ids", ck.Value, ck.ValueID, ck.ID)
			}
			if !strings.HasPrefix(ck.CreatedBy, "user:") {
				t.Errorf("created_by = %q, want user:<id>", ck.CreatedBy)
			}
			created[ck.ID] = ck.Key
		})
	}

	t.Run("list omits values", func(t *testing.T) {
		keys, err := h.c.ListKeys(ctx, acct)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		got := map[string]api.Key{}
		for _, k := range keys {
			if _, ok := created[k.ID]; ok {
				got[k.ID] = k
			}
		}
		if diff := cmp.Diff(created, got, cmpopts.IgnoreFields(api.Key{}, "CreatedAt", "UpdatedAt")); diff != "" {
			t.Errorf("listed keys (-want +got):\n%s", diff)
		}
		_, body := h.raw(t, "GET", "/api/v1/keys?account_id="+acct, h.tokens.AccessToken, "", nil)
		var objs []map[string]any
		if err := json.Unmarshal(body, &objs); err != nil {
			t.Fatalf("list body %s: %v", body, err)
		}
		for _, o := range objs {
			if _, ok := o["value"]; ok {
				t.Errorf("listed key %v has a value", o["id"])
			}
			for _, f := range []string{"expires_at", "allowed_ips", "auto_trust", "allow_untrusted_endpoints", "allow_unauthenticated", "active"} {
				if _, ok := o[f]; !ok {
					t.Errorf("listed key %v lacks %q", o["id"], f)
				}
			}
			if o["allowed_ips"] == nil {
				t.Errorf("listed key %v: allowed_ips is null, want []", o["id"])
			}
		}
	})
}

func TestMappedAllowedIPs(t *testing.T) {
	h := newHarness(t)
	ck, err := h.c.CreateKey(context.Background(), api.CreateKeyRequest{
		AccountID: h.defaultAccount(t), Name: "mapped", AutoTrust: true, AllowedIPs: []string{"::ffff:10.0.0.0/104"},
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if diff := cmp.Diff([]string{"10.0.0.0/8"}, ck.AllowedIPs); diff != "" {
		t.Errorf("allowed_ips (-want +got):\n%s", diff)
	}
	// The key admits a caller from 10.1.2.3 (register fails the test otherwise).
	h.register(t, ck.Value, "mapped-host")
}
