package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// /readyz answers 503 with the reason while the broker cannot read fresh
// state, and registrations and logins answer 503 too; /healthz (liveness)
// stays 200. All return to normal by themselves (issue 14, point 4).
func TestReadyzFailsClosed(t *testing.T) {
	re := brokertest.New(t, brokertest.Options{})
	var down atomic.Bool
	reg, err := registry.New(registry.Config{Store: re.Store, Signer: re.Issuer, Fresh: func() error {
		if down.Load() {
			return errors.New("no fresh read of the shared store for 31s")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := httpapi.New(httpapi.Config{Registry: reg, JWKSFunc: re.Issuer.JWKS, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(a.Handler())
	t.Cleanup(srv.Close)

	type answer struct {
		Status int
		Body   api.HealthResponse
	}
	get := func(path string) answer {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out answer
		out.Status = resp.StatusCode
		if err := json.NewDecoder(resp.Body).Decode(&out.Body); err != nil {
			t.Fatal(err)
		}
		return out
	}
	post := func(path, contentType, body string, header map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e api.ErrorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	ok := answer{200, api.HealthResponse{Status: "ok", Version: "1.2.3"}}
	if d := cmp.Diff(ok, get("/readyz")); d != "" {
		t.Fatalf("/readyz while fresh (-want +got):\n%s", d)
	}
	down.Store(true)
	want := answer{503, api.HealthResponse{Status: "unavailable", Version: "1.2.3",
		Reason: "the broker cannot read fresh state now; try again shortly or use another broker: no fresh read of the shared store for 31s"}}
	if d := cmp.Diff(want, get("/readyz")); d != "" {
		t.Errorf("/readyz while stale (-want +got):\n%s", d)
	}
	if d := cmp.Diff(ok, get("/healthz")); d != "" {
		t.Errorf("/healthz while stale (-want +got):\n%s", d)
	}
	key := "etk_" + strings.Repeat("a", 40)
	for _, tc := range []struct {
		name, path, ctype, body string
		header                  map[string]string
		wantStatus              int
		wantCode                string
	}{
		{"login", api.PathLogin, "application/json", `{"type":"session_user","username":"paula"}`, map[string]string{"X-API-Key": key}, 503, api.CodeUnavailable},
		{"oauth register", api.PathOAuthRegister, "application/x-www-form-urlencoded",
			url.Values{"response_type": {"device_code"}, "client_id": {"0f8fad5b-d9cb-469f-a165-70867728950e"}, "client_type": {"printer"}}.Encode(),
			map[string]string{"X-API-Key": key}, 503, api.CodeTemporarilyUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code := post(tc.path, tc.ctype, tc.body, tc.header)
			if status != tc.wantStatus || code != tc.wantCode {
				t.Errorf("%s = %d %q, want %d %q", tc.path, status, code, tc.wantStatus, tc.wantCode)
			}
		})
	}
	down.Store(false)
	if d := cmp.Diff(ok, get("/readyz")); d != "" {
		t.Errorf("/readyz once fresh again (-want +got):\n%s", d)
	}
	// The JWKS comes from JWKSFunc at each request.
	resp, err := srv.Client().Get(srv.URL + "/.well-known/jwks.json")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("jwks: %v %v", resp, err)
	}
	resp.Body.Close()
}
