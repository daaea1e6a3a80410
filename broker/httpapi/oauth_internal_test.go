package httpapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func TestOAuthStatus(t *testing.T) {
	type answer struct {
		Status int
		Code   string
	}
	tests := []struct {
		name string
		err  error
		want answer
	}{
		{"invalid", registry.E(registry.KindInvalid, "x", nil), answer{400, "invalid_request"}},
		{"conflict", registry.E(registry.KindConflict, "x", nil), answer{400, "invalid_request"}},
		{"not found", registry.E(registry.KindNotFound, "x", nil), answer{400, "invalid_request"}},
		{"quota", registry.E(registry.KindQuota, "x", nil), answer{400, "invalid_request"}},
		{"invalid client", registry.E(registry.KindInvalidClient, "x", nil), answer{401, "invalid_client"}},
		{"pending", registry.E(registry.KindPending, "x", nil), answer{400, "authorization_pending"}},
		{"slow down", registry.E(registry.KindRateLimited, "x", nil), answer{400, "slow_down"}},
		{"limited", registry.E(registry.KindLimited, "x", nil), answer{429, "slow_down"}},
		{"access denied", registry.E(registry.KindAccessDenied, "x", nil), answer{400, "access_denied"}},
		{"permission", registry.E(registry.KindPermission, "x", nil), answer{400, "access_denied"}},
		{"login refused", registry.E(registry.KindLoginRefused, "x", nil), answer{400, "access_denied"}},
		{"expired", registry.E(registry.KindExpired, "x", nil), answer{400, "expired_token"}},
		{"invalid grant", registry.E(registry.KindInvalidGrant, "x", nil), answer{400, "invalid_grant"}},
		{"unauthenticated", registry.E(registry.KindUnauthenticated, "x", nil), answer{400, "invalid_grant"}},
		{"unknown user", registry.E(registry.KindUnknownUser, "x", nil), answer{400, "invalid_grant"}},
		{"internal", errors.New("boom"), answer{500, "server_error"}},
		{"unsupported grant", &oauthError{code: "unsupported_grant_type", msg: "x"}, answer{400, "unsupported_grant_type"}},
		{"wrong method", &oauthError{status: 405, code: "invalid_request", msg: "x"}, answer{405, "invalid_request"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := oauthStatus(tc.err)
			if diff := cmp.Diff(tc.want, answer{s, c}); diff != "" {
				t.Errorf("oauthStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientAuth(t *testing.T) {
	const id, key = "0b8e7c1e-0a53-4b0a-9d8e-5b8f0a4f7f10", "etk_value"
	tests := []struct {
		name    string
		header  http.Header
		form    map[string][]string
		want    client
		wantErr bool
	}{
		{"form", nil, map[string][]string{"client_id": {id}, "client_secret": {key}}, client{id, key}, false},
		{"basic", http.Header{"Authorization": {"Basic MGI4ZTdjMWUtMGE1My00YjBhLTlkOGUtNWI4ZjBhNGY3ZjEwOmV0a192YWx1ZQ=="}}, nil, client{id, key}, false},
		{"basic, form-encoded parts", http.Header{"Authorization": {"Basic YSUyMGI6YyUzQWQ="}}, nil, client{"a b", "c:d"}, false},
		{"basic and the same form client_id", http.Header{"Authorization": {"Basic MGI4ZTdjMWUtMGE1My00YjBhLTlkOGUtNWI4ZjBhNGY3ZjEwOmV0a192YWx1ZQ=="}},
			map[string][]string{"client_id": {id}}, client{id, key}, false},
		{"x-api-key", http.Header{"X-Api-Key": {key}}, map[string][]string{"client_id": {id}}, client{id, key}, false},
		{"apikey scheme", http.Header{"Authorization": {"ApiKey " + key}}, nil, client{"", key}, false},
		{"no key", nil, map[string][]string{"client_id": {id}}, client{id, ""}, false},
		{"basic without colon", http.Header{"Authorization": {"Basic YWJj"}}, nil, client{}, true},
		{"basic bad escape", http.Header{"Authorization": {"Basic YSUlOmI="}}, nil, client{}, true},
		{"bearer", http.Header{"Authorization": {"Bearer x"}}, nil, client{}, true},
		{"two ways", http.Header{"X-Api-Key": {key}}, map[string][]string{"client_secret": {key}}, client{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := clientAuth(tc.header, tc.form)
			if (err != nil) != tc.wantErr {
				t.Fatalf("clientAuth error %v, want error %v", err, tc.wantErr)
			}
			if err != nil && registry.KindOf(err) != registry.KindInvalid {
				t.Errorf("error kind %v, want invalid", registry.KindOf(err))
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(client{})); diff != "" {
				t.Errorf("clientAuth (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzOAuthForm: any body and headers parse into a form without repeated
// parameters and credentials, or fail with KindInvalid and a message that
// quotes no value; never a panic.
func FuzzOAuthForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("client_id=0b8e7c1e-0a53-4b0a-9d8e-5b8f0a4f7f10&client_secret=etk_x&client_type=printer&response_type=device_code&public_key=AAAA%2B%2F%3D&key_type=ed25519&state=s"), "", "")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", []byte("grant_type=device_code&device_code=etd_x"), "Basic YTpi", "")
	f.Add("application/x-www-form-urlencoded", []byte("a=1&a=2"), "", "")
	f.Add("application/x-www-form-urlencoded", []byte("a=%zz;b"), "ApiKey etk_y", "etk_z")
	f.Add("text/plain", []byte(""), "Bearer x", "")
	f.Fuzz(func(t *testing.T, contentType string, body []byte, authorization, xAPIKey string) {
		form, err := parseForm(contentType, body)
		if err != nil {
			checkInvalid(t, err, form)
			return
		}
		for k, vs := range form {
			if len(vs) != 1 {
				t.Fatalf("parameter %q has %d values", k, len(vs))
			}
		}
		h := http.Header{}
		if authorization != "" {
			h.Set("Authorization", authorization)
		}
		if xAPIKey != "" {
			h.Set("X-API-Key", xAPIKey)
		}
		if _, err := clientAuth(h, form); err != nil {
			checkInvalid(t, err, form)
			if strings.Contains(registry.PublicMessage(err), xAPIKey) && xAPIKey != "" && len(xAPIKey) > 3 {
				t.Fatalf("message %q quotes the key", registry.PublicMessage(err))
			}
		}
	})
}

func checkInvalid(t *testing.T, err error, form map[string][]string) {
	t.Helper()
	if registry.KindOf(err) != registry.KindInvalid {
		t.Fatalf("error %v has kind %v, want invalid", err, registry.KindOf(err))
	}
	msg := registry.PublicMessage(err)
	for _, vs := range form {
		for _, v := range vs {
			if len(v) > 3 && strings.Contains(msg, v) {
				t.Fatalf("message %q quotes the value %q", msg, v)
			}
		}
	}
}

// FuzzRequestSignature: any HCP-Request-Signature header decodes to 1 to
// registry.MaxSignatureBytes bytes or fails with KindInvalid; a decoded
// signature verifies against a key without a panic.
func FuzzRequestSignature(f *testing.F) {
	for _, s := range []string{"AAAA", "AAA", " YWJj ", "***", "", strings.Repeat("A", 1368), strings.Repeat("A", 1369) + "=", "YQ==", "YQ"} {
		f.Add(s)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pk, err := registry.ParsePublicKey(registry.KeyTypeEd25519, pub)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sig, err := requestSignature(http.Header{"Hcp-Request-Signature": {header}})
		if err != nil {
			if registry.KindOf(err) != registry.KindInvalid {
				t.Fatalf("kind %v", registry.KindOf(err))
			}
			return
		}
		if len(sig) == 0 || len(sig) > registry.MaxSignatureBytes {
			t.Fatalf("decoded %d bytes", len(sig))
		}
		if pk.Verify([]byte("body"), sig) == nil {
			t.Fatal("a fuzzed signature verified")
		}
	})
}
