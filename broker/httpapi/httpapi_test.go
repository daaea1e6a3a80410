package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

func (h *harness) registerFrom(t *testing.T, keyValue, hostname, from string) registry.Endpoint {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.reg.Register(context.Background(), registry.RegisterRequest{
		APIKey: keyValue, ClientID: uuid.NewString(), ClientType: protocol.ClientDesktop,
		Hostname: hostname, OS: "linux", Version: "1.0.0", KeyType: registry.KeyTypeEd25519,
		PublicKey: pub, Remote: netip.MustParseAddr(from),
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

// send sends a JSON request with the given headers and returns the status
// and body. A nil body sends none; a string body is sent as is.
func (h *harness) send(t *testing.T, method, path string, headers map[string]string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
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
	return resp.StatusCode, b
}

// admin sends a request as the signed-in admin.
func (h *harness) admin(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return h.send(t, method, path, map[string]string{"Authorization": "Bearer " + h.tokens.AccessToken}, body)
}

// adminErrorCase is an admin request that must fail with status and code,
// inDesc in its description.
type adminErrorCase struct {
	name, method, path string
	body               any
	status             int
	code, inDesc       string
}

// wantAdminErrors sends each request as the admin, in a subtest of its
// name, and checks its error answer.
func (h *harness) wantAdminErrors(t *testing.T, tests []adminErrorCase) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.admin(t, tc.method, tc.path, tc.body)
			wantError(t, status, body, tc.status, tc.code, tc.inDesc)
		})
	}
}

// wantError checks an error answer's status, code and a part of its text.
func wantError(t *testing.T, status int, body []byte, wantStatus int, wantCode, wantInDesc string) {
	t.Helper()
	var er api.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatalf("status %d, body %s: not an error body: %v", status, body, err)
	}
	if status != wantStatus || er.Error != wantCode || !strings.Contains(er.ErrorDescription, wantInDesc) {
		t.Errorf("got %d %+v, want %d %q with %q in the description", status, er, wantStatus, wantCode, wantInDesc)
	}
}

// waitUntil polls cond with a deadline.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNewRequiresRegistry(t *testing.T) {
	_, err := httpapi.New(httpapi.Config{})
	if err == nil || err.Error() != "httpapi.New: Config.Registry is nil" {
		t.Fatalf("New(Config{}) = %v, want the Registry error", err)
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

// TestAPIKeyAuthentication checks the credential forms of the admin API
// (SPEC S5, K1, K8, K11): which key and token combinations are accepted,
// which refused with which body, that refusals are audited and that logs
// hold no key. One broker serves every case, hence the length.
func TestAPIKeyAuthentication(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	root := h.tokens.User.AccountID
	yes := true
	adminID := h.tokens.User.ID

	// S5, K1: a key alone acts as its run-as identity when it allows
	// unauthenticated requests; admin routes also need full API access.
	ck, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: root, Name: "automation", FullAPIAccess: true, AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.UpdateKey(ctx, ck.ID, api.UpdateKeyRequest{RunAsUserID: &adminID}); err != nil {
		t.Fatalf("UpdateKey run-as: %v", err)
	}
	plain, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: root, Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	fullOnly, err := h.c.CreateKey(ctx, api.CreateKeyRequest{AccountID: root, Name: "full, needs a user token", FullAPIAccess: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.UpdateKey(ctx, fullOnly.ID, api.UpdateKeyRequest{RunAsUserID: &adminID, FullAPIAccess: &yes}); err != nil {
		t.Fatal(err)
	}

	t.Run("accepted forms", func(t *testing.T) {
		for name, hdr := range map[string]map[string]string{
			"X-API-Key":                {"X-API-Key": ck.Value},
			"Authorization: ApiKey":    {"Authorization": "ApiKey " + ck.Value},
			"scheme case":              {"Authorization": "apikey " + ck.Value},
			"key and user token":       {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": fullOnly.Value},
			"user token alone":         {"Authorization": "Bearer " + h.tokens.AccessToken},
			"unauthenticated key+user": {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": ck.Value},
		} {
			t.Run(name, func(t *testing.T) {
				status, body := h.send(t, "GET", "/api/v1/accounts", hdr, nil)
				if status != 200 {
					t.Errorf("status %d: %s", status, body)
				}
			})
		}
		c := api.New(h.srv.URL, h.srv.Client())
		c.SetAPIKey(ck.Value)
		acct, err := c.CreateAccount(ctx, api.CreateAccountRequest{Name: "made by a key"})
		if err != nil {
			t.Fatalf("CreateAccount with the key: %v", err)
		}
		evs, err := h.c.ListAudit(ctx, api.AuditFilter{Action: "account.create", Target: "account:" + acct.ID})
		if err != nil || len(evs) != 1 || evs[0].Actor != "key:"+ck.ID {
			t.Errorf("audit of the key's change = %+v, %v; want actor key:%s", evs, err, ck.ID)
		}
	})

	// Every failure without a key's refusal answers the same 401 body.
	unauthenticated := map[string]map[string]string{
		"nothing":              {},
		"bad bearer":           {"Authorization": "Bearer not-a-token"},
		"empty bearer":         {"Authorization": "Bearer "},
		"unknown scheme":       {"Authorization": "Basic YWRtaW46YWRtaW4="},
		"good key, bad bearer": {"Authorization": "Bearer not-a-token", "X-API-Key": ck.Value},
	}
	// Every refusal of a key answers the same 403 body (SPEC K8).
	refused := map[string]map[string]string{
		"bad key":                          {"X-API-Key": "etk_nope"},
		"key without full access":          {"X-API-Key": plain.Value},
		"key without full, ApiKey":         {"Authorization": "ApiKey " + plain.Value},
		"key without full, with a token":   {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": plain.Value},
		"key not allowing unauthenticated": {"X-API-Key": fullOnly.Value},
		"bad key with a good token":        {"Authorization": "Bearer " + h.tokens.AccessToken, "X-API-Key": "etk_nope"},
	}
	for _, group := range []struct {
		cases        map[string]map[string]string
		status       int
		code, inDesc string
	}{
		{unauthenticated, 401, "unauthorized", "Bearer"},
		{refused, 403, "invalid_client", "invalid client credentials"},
	} {
		var first []byte
		for name, hdr := range group.cases {
			t.Run(name, func(t *testing.T) {
				status, body := h.send(t, "GET", "/api/v1/keys", hdr, nil)
				wantError(t, status, body, group.status, group.code, group.inDesc)
				if first == nil {
					first = body
				} else if diff := cmp.Diff(string(first), string(body)); diff != "" {
					t.Errorf("%d bodies differ (-first +this):\n%s", group.status, diff)
				}
			})
		}
	}
	t.Run("query form is not accepted on admin routes", func(t *testing.T) {
		status, body := h.send(t, "GET", "/api/v1/keys?rest_api_key="+ck.Value, nil, nil)
		wantError(t, status, body, 401, "unauthorized", "")
	})
	t.Run("refusal is audited", func(t *testing.T) {
		evs, err := h.c.ListAudit(ctx, api.AuditFilter{Action: "auth.apikey", Outcome: "failure"})
		if err != nil || len(evs) == 0 {
			t.Errorf("failed key authentications in the audit: %d, %v; want some", len(evs), err)
		}
	})
	t.Run("logs hold no key", func(t *testing.T) {
		for _, e := range h.logs.All() {
			line := e.Message
			for k, v := range e.ContextMap() {
				line += " " + k + "=" + toString(v)
			}
			for _, secret := range []string{ck.Value, plain.Value} {
				if strings.Contains(line, secret) {
					t.Errorf("log line %q holds a key value", line)
				}
			}
		}
	})
}

// signInTokens is registry.SignIn's tokens, for tests that need only them.
func signInTokens(res *registry.SignInResult, err error) (*registry.TokenPair, error) {
	if err != nil {
		return nil, err
	}
	return res.Tokens, nil
}
