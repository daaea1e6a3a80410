package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// TestErrors checks the status and error code of every kind of refused
// request, that sign-in failures answer one body, and that logs hold no
// secret. The table is long because it lists each refusal once.
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
