package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// fieldNames returns the JSON object keys of v, sorted.
func fieldNames(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestContract pins the JSON field names that scripts and external tests read.
func TestContract(t *testing.T) {
	keyFields := []string{"account_id", "account_name", "active", "allow_unauthenticated", "allow_untrusted_endpoints", "allowed_ips",
		"auto_trust", "created_at", "created_by", "created_by_name", "description", "expires_at", "full_api_access", "group", "id", "name",
		"predefined", "run_as_role_id", "run_as_role_name", "run_as_user_id", "run_as_user_name", "type", "updated_at"}
	tests := []struct {
		name string
		v    any
		want []string
	}{
		{"Key", api.Key{}, keyFields},
		{"CreatedKey", api.CreatedKey{}, append(slices.Clone(keyFields), "value", "value_id")},
		{"Endpoint", api.Endpoint{}, []string{"account_id", "approved_at", "approved_by", "bound", "client_id", "clone_suspected_at", "decided_at", "decided_by",
			"description", "hostname", "id", "key_fingerprint", "key_id", "key_name", "key_thumbprint", "key_type", "key_value_id",
			"last_decision", "last_decision_at", "last_decision_by", "last_seen_at", "last_seen_from", "os", "registered_at", "registered_from", "state", "type", "version"}},
		{"Account", api.Account{}, []string{"created_at", "deny_user_creation", "disabled", "id", "name", "parent_id", "parent_name", "settings",
			"trust_all_endpoints", "type", "updated_at"}},
		{"TokenResponse", api.TokenResponse{User: &api.User{}, DeviceToken: "x"}, []string{"access_token", "device_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type", "user"}},
		{"ErrorResponse", api.ErrorResponse{}, []string{"error", "error_description"}},
		{"EndpointResult", api.EndpointResult{}, []string{"error", "id", "ok", "outcome", "state"}},
		{"AccountSettings", api.AccountSettings{}, []string{"delete_stale", "device_token_ttl_seconds", "endpoint_quota", "key_quota", "lock_out_clones",
			"pending_per_account", "pending_per_key_value", "refresh_ttl_seconds", "require_dpop", "require_endpoint_keys", "stale_after_seconds", "user_token_ttl_seconds"}},
		{"KeyChange", api.KeyChange{}, []string{"account_id", "description", "endpoint_id", "hostname", "key_fingerprint", "key_id",
			"key_type", "old_key_fingerprint", "old_key_type", "requested_at", "requested_description", "requested_from",
			"requested_hostname", "requested_os", "requested_version", "state"}},
		{"KeyChangeDecision", api.KeyChangeDecision{Fingerprint: "x"}, []string{"fingerprint"}},
		{"UserDetail", api.UserDetail{}, []string{"account_id", "account_name", "card_id", "created_at", "disabled", "domain", "email", "grants", "id",
			"short_id", "source", "updated_at", "upn", "username"}},
		{"Grant", api.Grant{}, []string{"account_id", "account_name", "created_at", "role_id", "role_name"}},
		{"Role", api.Role{}, []string{"account_id", "account_name", "built_in", "created_at", "id", "name", "permissions"}},
		{"KeyDetail", api.KeyDetail{}, append(slices.Clone(keyFields), "values")},
		{"KeyValue", api.KeyValue{}, []string{"created_at", "description", "edge_device", "expires_at", "id", "key_id", "last_used_at",
			"last_used_from", "revoked", "revoked_at", "use_count", "use_limit"}},
		{"CreatedValue", api.CreatedValue{}, []string{"id", "value", "value_id"}},
		{"BulkResponse", api.BulkResponse{}, []string{"failed", "ok", "results"}},
		{"AuditEvent", api.AuditEvent{}, []string{"account_id", "action", "actor", "actor_name", "detail", "id", "outcome", "remote", "target", "time"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if diff := cmp.Diff(want, fieldNames(t, tc.v)); diff != "" {
				t.Errorf("JSON fields (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unset times are null", func(t *testing.T) {
		b, _ := json.Marshal(api.Key{AllowedIPs: []string{}})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if m["expires_at"] != nil {
			t.Errorf("expires_at = %v, want null", m["expires_at"])
		}
		exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		b, _ = json.Marshal(api.Key{ExpiresAt: &exp})
		_ = json.Unmarshal(b, &m)
		if m["expires_at"] != "2030-01-01T00:00:00Z" {
			t.Errorf("expires_at = %v, want RFC 3339", m["expires_at"])
		}
	})
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   api.Error
	}{
		{"api error", 404, `{"error":"not_found","error_description":"not found"}`, api.Error{Status: 404, Code: "not_found", Description: "not found"}},
		{"foreign body", 502, `<html>bad gateway</html>`, api.Error{Status: 502, Code: "bad_gateway"}},
		{"empty body", 401, ``, api.Error{Status: 401, Code: "unauthorized"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("Authorization"); got != "Bearer tok" {
					t.Errorf("Authorization = %q", got)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := api.New(srv.URL+"/", srv.Client())
			c.SetToken("tok")
			_, err := c.ListAccounts(context.Background())
			var ae *api.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *api.Error", err)
			}
			if diff := cmp.Diff(tc.want, *ae); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !api.IsStatus(err, tc.status) {
				t.Errorf("IsStatus(%d) = false", tc.status)
			}
		})
	}
}

// sent is a request as the fake broker received it: method, escaped path,
// raw query, body, and the credentials ("Bearer tok X-API-Key etk_x").
type sent struct{ Method, Path, Query, Body, Auth string }

// requestCase is one client call and the request it must send. c has the
// user token "tok".
type requestCase struct {
	name string
	call func(ctx context.Context, c *api.Client) error
	want sent
}

// fakeBroker records the last request a client sent it. It answers a
// DELETE with 204, a GET of a collection (/api/v1/users) with [], anything
// else with {}.
type fakeBroker struct {
	srv *httptest.Server
	got sent
}

func newFakeBroker(t *testing.T) *fakeBroker {
	b := &fakeBroker{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		if k := r.Header.Get("X-API-Key"); k != "" {
			auth = strings.TrimSpace(auth + " X-API-Key " + k)
		}
		b.got = sent{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, strings.TrimSpace(string(body)), auth}
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
	t.Cleanup(b.srv.Close)
	return b
}

// client returns a client of the fake broker without credentials.
func (b *fakeBroker) client() *api.Client { return api.New(b.srv.URL, b.srv.Client()) }

// check makes each call and compares the request it sent with the want.
func (b *fakeBroker) check(t *testing.T, tests []requestCase) {
	t.Helper()
	c := b.client()
	c.SetToken("tok")
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.got = sent{}
			if err := tc.call(ctx, c); err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tc.want, b.got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClientCredentials pins the credentials the client sends: an API key
// alone, or with a user token.
func TestClientCredentials(t *testing.T) {
	b := newFakeBroker(t)
	b.check(t, []requestCase{
		{"API key instead of a token", func(ctx context.Context, _ *api.Client) error {
			k := b.client()
			k.SetAPIKey("etk_x")
			_, err := k.ListRoles(ctx)
			return err
		}, sent{"GET", "/api/v1/roles", "", "", "X-API-Key etk_x"}},
		{"API key and a token", func(ctx context.Context, _ *api.Client) error {
			k := b.client()
			k.SetToken("tok")
			k.SetAPIKey("etk_x")
			_, err := k.ListRoles(ctx)
			return err
		}, sent{"GET", "/api/v1/roles", "", "", "Bearer tok X-API-Key etk_x"}},
	})
}
