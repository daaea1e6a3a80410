package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestClientRequests pins the method, path, query and body each client
// method sends.
func TestClientRequests(t *testing.T) {
	type req struct{ Method, Path, Query, Body, Auth string }
	var got req
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		if k := r.Header.Get("X-API-Key"); k != "" {
			auth = strings.TrimSpace(auth + " X-API-Key " + k)
		}
		got = req{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, strings.TrimSpace(string(b)), auth}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && !strings.Contains(r.URL.Path[len("/api/v1/"):], "/"):
			_, _ = w.Write([]byte(`[]`))
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	c := api.New(srv.URL, srv.Client())
	c.SetToken("tok")
	ctx := context.Background()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f, tr := false, true

	tests := []struct {
		name string
		call func() error
		want req
	}{
		{"CreateAccount", func() error {
			_, err := c.CreateAccount(ctx, api.CreateAccountRequest{Name: "A", ParentID: "p", Type: "vendor"})
			return err
		}, req{"POST", "/api/v1/accounts", "", `{"name":"A","parent_id":"p","type":"vendor"}`, "Bearer tok"}},
		{"GetAccount escapes", func() error { _, err := c.GetAccount(ctx, "a/b"); return err },
			req{"GET", "/api/v1/accounts/a%2Fb", "", "", "Bearer tok"}},
		{"UpdateAccount", func() error {
			_, err := c.UpdateAccount(ctx, "a", api.UpdateAccountRequest{Disabled: &tr})
			return err
		}, req{"PATCH", "/api/v1/accounts/a", "", `{"disabled":true}`, "Bearer tok"}},
		{"CreateUser", func() error {
			_, err := c.CreateUser(ctx, api.CreateUserRequest{AccountID: "a", Username: "u", Roles: []string{"Auditor"}})
			return err
		}, req{"POST", "/api/v1/users", "", `{"account_id":"a","username":"u","roles":["Auditor"]}`, "Bearer tok"}},
		{"ListUsers", func() error { _, err := c.ListUsers(ctx, "a"); return err },
			req{"GET", "/api/v1/users", "account_id=a", "", "Bearer tok"}},
		{"DeleteUser", func() error { return c.DeleteUser(ctx, "u") }, req{"DELETE", "/api/v1/users/u", "", "", "Bearer tok"}},
		{"Grant", func() error {
			_, err := c.Grant(ctx, "u", api.GrantRequest{Role: "Auditor", AccountID: "a"})
			return err
		},
			req{"POST", "/api/v1/users/u/grants", "", `{"role":"Auditor","account_id":"a"}`, "Bearer tok"}},
		{"Ungrant", func() error { return c.Ungrant(ctx, "u", "Key viewer", "a") },
			req{"DELETE", "/api/v1/users/u/grants", "account_id=a&role=Key+viewer", "", "Bearer tok"}},
		{"CreateRole", func() error {
			_, err := c.CreateRole(ctx, api.CreateRoleRequest{Name: "r", Permissions: []string{"ViewApiKey"}})
			return err
		}, req{"POST", "/api/v1/roles", "", `{"name":"r","permissions":["ViewApiKey"]}`, "Bearer tok"}},
		{"DeleteRole", func() error { return c.DeleteRole(ctx, "r") }, req{"DELETE", "/api/v1/roles/r", "", "", "Bearer tok"}},
		{"UpdateKey", func() error {
			_, err := c.UpdateKey(ctx, "k", api.UpdateKeyRequest{Active: &f, NoExpiry: true, AllowedIPs: &[]string{}})
			return err
		}, req{"PATCH", "/api/v1/keys/k", "", `{"active":false,"no_expiry":true,"allowed_ips":[]}`, "Bearer tok"}},
		{"AddKeyValue", func() error {
			_, err := c.AddKeyValue(ctx, "k", api.AddValueRequest{Description: "d", UseLimit: 2, ExpiresAt: &t0})
			return err
		}, req{"POST", "/api/v1/keys/k/values", "", `{"description":"d","use_limit":2,"expires_at":"2030-01-02T03:04:05Z"}`, "Bearer tok"}},
		{"RegenerateKeyValue", func() error { _, err := c.RegenerateKeyValue(ctx, "k", "v"); return err },
			req{"POST", "/api/v1/keys/k/regenerate", "", `{"value_id":"v"}`, "Bearer tok"}},
		{"RevokeKeyValue", func() error { return c.RevokeKeyValue(ctx, "k", "v") },
			req{"DELETE", "/api/v1/keys/k/values/v", "", "", "Bearer tok"}},
		{"RemoveEdgeDevice", func() error { return c.RemoveEdgeDevice(ctx, "a", "v") },
			req{"DELETE", "/api/v1/edge-devices/v", "account_id=a", "", "Bearer tok"}},
		{"BulkEndpoints", func() error {
			_, err := c.BulkEndpoints(ctx, api.BulkRequest{Action: "approve", Filter: &api.BulkFilter{State: "pending", From: "10.0.0.0/8"}})
			return err
		}, req{"POST", "/api/v1/endpoints/bulk", "", `{"action":"approve","filter":{"state":"pending","from":"10.0.0.0/8"}}`, "Bearer tok"}},
		{"ListEndpoints filters", func() error {
			_, err := c.ListEndpoints(ctx, api.EndpointFilter{Text: "x", From: "10.0.0.0/8", SeenBefore: t0, RegisteredAfter: t0})
			return err
		}, req{"GET", "/api/v1/endpoints", "from=10.0.0.0%2F8&registered_after=2030-01-02T03%3A04%3A05Z&seen_before=2030-01-02T03%3A04%3A05Z&text=x", "", "Bearer tok"}},
		{"ListAudit", func() error {
			_, err := c.ListAudit(ctx, api.AuditFilter{Since: t0, Action: "endpoint.", AccountID: "a", AfterID: 7, Limit: 10})
			return err
		}, req{"GET", "/api/v1/audit", "account_id=a&action=endpoint.&after_id=7&limit=10&since=2030-01-02T03%3A04%3A05Z", "", "Bearer tok"}},
		{"API key instead of a token", func() error {
			k := api.New(srv.URL, srv.Client())
			k.SetAPIKey("etk_x")
			_, err := k.ListRoles(ctx)
			return err
		}, req{"GET", "/api/v1/roles", "", "", "X-API-Key etk_x"}},
		{"API key and a token", func() error {
			k := api.New(srv.URL, srv.Client())
			k.SetToken("tok")
			k.SetAPIKey("etk_x")
			_, err := k.ListRoles(ctx)
			return err
		}, req{"GET", "/api/v1/roles", "", "", "Bearer tok X-API-Key etk_x"}},
		{"ListSessions", func() error { _, err := c.ListSessions(ctx, ""); return err },
			req{"GET", "/api/v1/sessions", "", "", "Bearer tok"}},
		{"ListSessions of a user", func() error { _, err := c.ListSessions(ctx, "u 1"); return err },
			req{"GET", "/api/v1/sessions", "user_id=u+1", "", "Bearer tok"}},
		{"EndSession", func() error { return c.EndSession(ctx, "s/1") },
			req{"DELETE", "/api/v1/sessions/s%2F1", "", "", "Bearer tok"}},
		{"EndSessions", func() error { _, err := c.EndSessions(ctx, "u"); return err },
			req{"DELETE", "/api/v1/sessions", "user_id=u", "", "Bearer tok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = req{}
			if err := tc.call(); err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}
