package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

const adminPassword = brokertest.AdminPassword

type harness struct {
	srv    *httptest.Server
	reg    *registry.Registry
	c      *api.Client // signed in as admin
	tokens *api.TokenResponse
	logs   *observer.ObservedLogs
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	re := brokertest.New(t, brokertest.Options{})
	reg, iss := re.Registry, re.Issuer
	core, logs := observer.New(zap.DebugLevel)
	a, err := httpapi.New(httpapi.Config{Registry: reg, JWKS: iss.JWKS(), Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	srv := httptest.NewTLSServer(a.Handler())
	t.Cleanup(srv.Close)
	c := api.New(srv.URL, srv.Client())
	tr, err := c.SignIn(ctx, api.SignInRequest{Username: "admin", Password: adminPassword})
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	c.SetToken(tr.AccessToken)
	return &harness{srv: srv, reg: reg, c: c, tokens: tr, logs: logs}
}

// defaultAccount returns the id of the bootstrap's customer account.
func (h *harness) defaultAccount(t *testing.T) string {
	t.Helper()
	accts, err := h.c.ListAccounts(context.Background())
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	for _, a := range accts {
		if a.Name == registry.DefaultAccountName {
			return a.ID
		}
	}
	t.Fatalf("no account %q in %+v", registry.DefaultAccountName, accts)
	return ""
}

// register registers a new endpoint with a fresh Ed25519 key.
func (h *harness) register(t *testing.T, keyValue, hostname string) registry.Endpoint {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.reg.Register(context.Background(), registry.RegisterRequest{
		APIKey: keyValue, ClientID: uuid.NewString(), ClientType: protocol.ClientDesktop,
		Hostname: hostname, OS: "linux", Version: "1.0.0", KeyType: registry.KeyTypeEd25519,
		PublicKey: pub, Remote: netip.MustParseAddr("10.1.2.3"),
	})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return res.Endpoint
}

// raw sends a request without the typed client.
func (h *harness) raw(t *testing.T, method, path, tok, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestNewRequiresRegistry(t *testing.T) {
	_, err := httpapi.New(httpapi.Config{})
	if err == nil || err.Error() != "httpapi.New: Config.Registry is nil" {
		t.Fatalf("New(Config{}) = %v, want the Registry error", err)
	}
}

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
			want: api.Key{Name: "plain", Type: "general", AccountID: acct, Active: true, AllowedIPs: []string{}},
		},
		{
			name: "every setting",
			req: api.CreateKeyRequest{
				AccountID: acct, Name: "kiosk", Type: "embedded", Description: "lobby", Group: "g1",
				Active: &inactive, AutoTrust: true, AllowUntrustedEndpoints: true, AllowUnauthenticated: true,
				ExpiresAt: &exp, AllowedIPs: []string{"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "10.1.2.3/8"},
			},
			want: api.Key{
				Name: "kiosk", Type: "embedded", AccountID: acct, Description: "lobby", Group: "g1",
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

func TestEndpointsLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	manual, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	auto, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "auto", AutoTrust: true})
	if err != nil {
		t.Fatal(err)
	}
	e1 := h.register(t, manual.Value, "alpha-host")
	e2 := h.register(t, manual.Value, "beta-host")
	e3 := h.register(t, auto.Value, "gamma-host")

	ids := func(eps []api.Endpoint) []string {
		out := []string{}
		for _, e := range eps {
			out = append(out, e.ID)
		}
		return out
	}
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    api.EndpointFilter
			want []string
		}{
			{"all", api.EndpointFilter{}, []string{e1.ID, e2.ID, e3.ID}},
			{"pending", api.EndpointFilter{State: "pending"}, []string{e1.ID, e2.ID}},
			{"trusted", api.EndpointFilter{State: "trusted"}, []string{e3.ID}},
			{"by key", api.EndpointFilter{KeyID: auto.ID}, []string{e3.ID}},
			{"by text", api.EndpointFilter{Text: "BETA"}, []string{e2.ID}},
			{"by account", api.EndpointFilter{AccountID: acct, Type: protocol.ClientDesktop}, []string{e1.ID, e2.ID, e3.ID}},
			{"none", api.EndpointFilter{State: "rejected"}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := h.c.ListEndpoints(ctx, tc.f)
				if err != nil {
					t.Fatalf("ListEndpoints: %v", err)
				}
				if diff := cmp.Diff(tc.want, ids(got), sorted); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("shape", func(t *testing.T) {
		got, err := h.c.GetEndpoint(ctx, e1.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := api.Endpoint{
			ID: e1.ID, ClientID: e1.ID, State: "pending", Type: protocol.ClientDesktop, Hostname: "alpha-host", OS: "linux",
			Version: "1.0.0", AccountID: acct, KeyID: manual.ID, KeyValueID: manual.ValueID,
			RegisteredFrom: "10.1.2.3", LastSeenFrom: "10.1.2.3", KeyType: "ed25519",
			KeyFingerprint: e1.KeyThumbprint, KeyThumbprint: e1.KeyThumbprint, Bound: true,
		}
		if diff := cmp.Diff(want, *got, cmpopts.IgnoreFields(api.Endpoint{}, "RegisteredAt", "LastSeenAt")); diff != "" {
			t.Errorf("endpoint (-want +got):\n%s", diff)
		}
		if got.RegisteredAt == nil || got.LastSeenAt == nil || got.ApprovedAt != nil || got.DecidedAt != nil {
			t.Errorf("times: registered %v, last seen %v, approved %v, decided %v; want set, set, nil, nil",
				got.RegisteredAt, got.LastSeenAt, got.ApprovedAt, got.DecidedAt)
		}
	})

	// Steps run in order: each acts on the state the previous one left.
	steps := []struct {
		name      string
		id        string
		action    string
		wantState string
		wantCode  string // "" = success
	}{
		{"approve pending", e1.ID, api.ActionApprove, "trusted", ""},
		{"approve trusted is a no-op", e1.ID, api.ActionApprove, "trusted", ""},
		{"reject trusted conflicts", e1.ID, api.ActionReject, "", api.CodeConflict},
		{"untrust trusted", e1.ID, api.ActionUntrust, "untrusted", ""},
		{"untrust untrusted conflicts", e1.ID, api.ActionUntrust, "", api.CodeConflict},
		{"re-approve untrusted", e1.ID, api.ActionApprove, "trusted", ""},
		{"reject pending", e2.ID, api.ActionReject, "rejected", ""},
		{"approve rejected", e2.ID, api.ActionApprove, "trusted", ""},
		{"unknown endpoint", uuid.NewString(), api.ActionApprove, "", api.CodeNotFound},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ep, err := h.c.Decide(ctx, s.id, s.action)
			if s.wantCode != "" {
				var ae *api.Error
				if !errors.As(err, &ae) || ae.Code != s.wantCode {
					t.Fatalf("Decide = %v, want error code %q", err, s.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if ep.State != s.wantState || ep.ApprovedBy == "" || ep.ApprovedAt == nil || ep.DecidedBy != ep.ApprovedBy {
				t.Errorf("after %s: state %q by %q at %v, want %q with a decider", s.action, ep.State, ep.ApprovedBy, ep.ApprovedAt, s.wantState)
			}
		})
	}

	t.Run("delete", func(t *testing.T) {
		if err := h.c.DeleteEndpoint(ctx, e3.ID); err != nil {
			t.Fatalf("DeleteEndpoint: %v", err)
		}
		if _, err := h.c.GetEndpoint(ctx, e3.ID); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("GetEndpoint after delete = %v, want 404", err)
		}
		if err := h.c.DeleteEndpoint(ctx, e3.ID); !api.IsStatus(err, http.StatusNotFound) {
			t.Errorf("second DeleteEndpoint = %v, want 404", err)
		}
	})
}

func TestErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	k, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: acct, Name: "auto", AutoTrust: true})
	if err != nil {
		t.Fatal(err)
	}
	trusted := h.register(t, k.Value, "trusted-host")
	tok := h.tokens.AccessToken
	ctJSON := "application/json"

	tests := []struct {
		name        string
		method      string
		path        string
		tok         string
		contentType string
		body        string
		want        int
		wantCode    string
		wantInDesc  string
	}{
		{"no token", "GET", "/api/v1/keys", "", "", "", 401, "unauthorized", "Bearer"},
		{"bad token", "GET", "/api/v1/endpoints", "not-a-token", "", "", 401, "unauthorized", ""},
		{"refresh token as access token", "GET", "/api/v1/accounts", h.tokens.RefreshToken, "", "", 401, "unauthorized", ""},
		{"bad JSON", "POST", "/api/v1/keys", tok, ctJSON, `{"name":`, 400, "invalid_request", "JSON"},
		{"not an object", "POST", "/api/v1/keys", tok, ctJSON, `[1,2]`, 400, "invalid_request", "object"},
		{"wrong type", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x","auto_trust":"yes"}`, 400, "invalid_request", `"auto_trust"`},
		{"wrong type in list", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x","allowed_ips":"10.0.0.0/8"}`, 400, "invalid_request", `"allowed_ips"`},
		{"trailing data", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x"} {}`, 400, "invalid_request", "one JSON"},
		{"empty body", "POST", "/api/v1/keys", tok, ctJSON, ``, 400, "invalid_request", "body"},
		{"not JSON content type", "POST", "/api/v1/keys", tok, "text/plain", `{"name":"x"}`, 400, "invalid_request", "Content-Type"},
		{"too large", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 400, "invalid_request", "larger"},
		{"bad allowed ip", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x","allowed_ips":["10.0.0.300"]}`, 400, "invalid_request", "allowed_ips[0]"},
		{"bad key type", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x","type":"laptop"}`, 400, "invalid_request", "laptop"},
		{"past expiry", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x","expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_request", "past"},
		{"expiry beyond the storable range", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x","expires_at":"9999-12-31T23:59:59Z"}`, 400, "invalid_request", "2200"},
		{"unknown fields are ignored", "POST", "/api/v1/keys", tok, ctJSON, `{"name":"x","future_field":1}`, 201, "", ""},
		{"unknown account", "GET", "/api/v1/keys?account_id=" + uuid.NewString(), tok, "", "", 404, "not_found", ""},
		{"bad state", "GET", "/api/v1/endpoints?state=sleeping", tok, "", "", 400, "invalid_request", "sleeping"},
		{"bad from", "GET", "/api/v1/endpoints?from=nope", tok, "", "", 400, "invalid_request", "CIDR"},
		{"unknown endpoint", "POST", "/api/v1/endpoints/" + uuid.NewString() + "/approve", tok, "", "", 404, "not_found", ""},
		{"unknown endpoint delete", "DELETE", "/api/v1/endpoints/" + uuid.NewString(), tok, "", "", 404, "not_found", ""},
		{"reject trusted", "POST", "/api/v1/endpoints/" + trusted.ID + "/reject", tok, "", "", 409, "conflict", "trusted"},
		{"unknown route", "GET", "/api/v1/nothing", tok, "", "", 404, "not_found", ""},
		{"wrong password", "POST", "/api/v1/signin", "", ctJSON, `{"username":"admin","password":"wrong-password"}`, 401, "unauthorized", ""},
		{"unknown user", "POST", "/api/v1/signin", "", ctJSON, `{"username":"nobody","password":"wrong-password"}`, 401, "unauthorized", ""},
		{"bad refresh", "POST", "/api/v1/signin/refresh", "", ctJSON, `{"refresh_token":"etr_nope"}`, 400, "invalid_grant", ""},
		{"missing refresh", "POST", "/api/v1/signin/refresh", "", ctJSON, `{}`, 400, "invalid_request", "refresh_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" || tc.method == "POST" {
				body = []byte(tc.body)
			}
			resp, b := h.raw(t, tc.method, tc.path, tc.tok, tc.contentType, body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.want, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tc.wantCode == "" {
				return
			}
			var er api.ErrorResponse
			if err := json.Unmarshal(b, &er); err != nil {
				t.Fatalf("error body %s: %v", b, err)
			}
			if er.Error != tc.wantCode || !strings.Contains(er.ErrorDescription, tc.wantInDesc) {
				t.Errorf("error %+v, want code %q with %q in the description", er, tc.wantCode, tc.wantInDesc)
			}
		})
	}

	t.Run("signin bodies are identical", func(t *testing.T) {
		_, wrongPw := h.raw(t, "POST", "/api/v1/signin", "", ctJSON, []byte(`{"username":"admin","password":"wrong-password"}`))
		_, unknown := h.raw(t, "POST", "/api/v1/signin", "", ctJSON, []byte(`{"username":"nobody","password":"wrong-password"}`))
		if diff := cmp.Diff(string(wrongPw), string(unknown)); diff != "" {
			t.Errorf("sign-in failure bodies differ (-wrong password +unknown user):\n%s", diff)
		}
	})

	t.Run("logs hold no secrets", func(t *testing.T) {
		for _, e := range h.logs.All() {
			line := e.Message
			for k, v := range e.ContextMap() {
				line += " " + k + "=" + toString(v)
			}
			for _, secret := range []string{adminPassword, "wrong-password", tok, h.tokens.RefreshToken, k.Value} {
				if strings.Contains(line, secret) {
					t.Errorf("log line %q holds a secret", line)
				}
			}
		}
		if h.logs.Len() == 0 {
			t.Error("no log lines for refused requests")
		}
	})
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRefresh(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := api.New(h.srv.URL, h.srv.Client())
	tr, err := c.Refresh(ctx, h.tokens.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.RefreshToken == h.tokens.RefreshToken || tr.ExpiresIn != 3600 || tr.TokenType != "Bearer" || tr.User != nil {
		t.Errorf("refreshed pair %+v: want new tokens, expires_in 3600, no user", tr)
	}
	c.SetToken(tr.AccessToken)
	if _, err := c.ListAccounts(ctx); err != nil {
		t.Errorf("ListAccounts with the refreshed token: %v", err)
	}
	if _, err := c.Refresh(ctx, h.tokens.RefreshToken); !isCode(err, api.CodeInvalidGrant) {
		t.Errorf("reusing a spent refresh token = %v, want invalid_grant", err)
	}
	// Reuse revoked the chain: the rotated token is dead too.
	if _, err := c.Refresh(ctx, tr.RefreshToken); !isCode(err, api.CodeInvalidGrant) {
		t.Errorf("refreshing after reuse = %v, want invalid_grant", err)
	}
}

func isCode(err error, code string) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == code
}

func TestSignInAnswer(t *testing.T) {
	h := newHarness(t)
	if h.tokens.User == nil || h.tokens.User.Username != "admin" || h.tokens.User.ID == "" || h.tokens.User.AccountID == "" {
		t.Errorf("sign-in user = %+v, want admin with ids", h.tokens.User)
	}
	if h.tokens.ExpiresIn != 3600 || h.tokens.RefreshExpiresIn != 90*24*3600 || h.tokens.TokenType != "Bearer" {
		t.Errorf("sign-in lifetimes %+v", h.tokens)
	}
}

func TestPublicRoutes(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		path      string
		wantCache string
	}{
		{"/healthz", "no-store"},
		{"/readyz", "no-store"},
		{"/.well-known/jwks.json", "max-age=300"},
		{"/api/v1/accounts", "no-store"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, _ := h.raw(t, "GET", tc.path, h.tokens.AccessToken, "", nil)
			got := map[string]string{
				"status":        resp.Status,
				"Content-Type":  resp.Header.Get("Content-Type"),
				"Cache-Control": resp.Header.Get("Cache-Control"),
				"nosniff":       resp.Header.Get("X-Content-Type-Options"),
			}
			want := map[string]string{"status": "200 OK", "Content-Type": "application/json", "Cache-Control": tc.wantCache, "nosniff": "nosniff"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("healthz", func(t *testing.T) {
		if err := h.c.Healthz(context.Background()); err != nil {
			t.Errorf("Healthz: %v", err)
		}
	})

	t.Run("jwks", func(t *testing.T) {
		raw, err := h.c.JWKS(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var set struct {
			Keys []struct {
				Kty, Crv, Alg, Kid, X string
			} `json:"keys"`
		}
		if err := json.Unmarshal(raw, &set); err != nil {
			t.Fatalf("jwks %s: %v", raw, err)
		}
		if len(set.Keys) != 1 {
			t.Fatalf("jwks has %d keys, want 1: %s", len(set.Keys), raw)
		}
		k := set.Keys[0]
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Kid == "" || k.X == "" {
			t.Errorf("jwks key %+v, want OKP/Ed25519/EdDSA with kid and x", k)
		}
	})
}

func TestAccounts(t *testing.T) {
	h := newHarness(t)
	accts, err := h.c.ListAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type short struct{ Name, Type string }
	var got []short
	var root string
	for _, a := range accts {
		got = append(got, short{a.Name, a.Type})
		if a.Name == registry.RootAccountName {
			root = a.ID
		}
	}
	want := []short{{"root", "vendor"}, {"default", "customer"}}
	// Both are created in one instant; the order among equal times is by id.
	bySorted := cmpopts.SortSlices(func(a, b short) bool { return a.Name < b.Name })
	if diff := cmp.Diff(want, got, bySorted); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	for _, a := range accts {
		if a.Name == registry.DefaultAccountName && a.ParentID != root {
			t.Errorf("default's parent %q, want root %q", a.ParentID, root)
		}
	}
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

func TestMalformedJSONLogsNoBodyText(t *testing.T) {
	h := newHarness(t)
	// The JSON error quotes the bad character: here a character of the password.
	resp, b := h.raw(t, "POST", "/api/v1/signin", "", "application/json", []byte(`{"username":"admin","password":"pw\Ysecret"}`))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400; body %s", resp.StatusCode, b)
	}
	for _, e := range h.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + toString(v)
		}
		if strings.Contains(line, "'Y'") {
			t.Errorf("log line %q quotes the body", line)
		}
	}
}
