package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// TestAccountRequirements: require_endpoint_keys refuses keyless
// registrations; require_dpop refuses HCP-Request-Signature on login while
// DPoP works (SPEC T1, T3). Both are audited.
func TestAccountRequirements(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	p := newEd25519Prover(t)
	tok := h.trusted(t, p.device, auto).AccessToken
	sig := base64.StdEncoding.EncodeToString(p.sign([]byte(sessionBody)))
	signedLogin := func() answer {
		return h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "Bearer "+tok, api.SignatureHeader, sig)
	}
	userToken(t, signedLogin())

	acct, err := h.admin.UpdateAccount(ctx, h.env.RootAccountID, api.UpdateAccountRequest{
		Settings: &api.AccountSettings{RequireEndpointKeys: true, RequireDPoP: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !acct.Settings.RequireEndpointKeys || !acct.Settings.RequireDPoP {
		t.Fatalf("settings %+v", acct.Settings)
	}

	a := h.post(t, api.PathOAuthRegister, keylessDevice().registerBody(auto))
	wantOAuthError(t, a, http.StatusBadRequest, api.CodeInvalidRequest)
	if !strings.Contains(string(a.body), "requires endpoint keys") {
		t.Errorf("refusal %s does not say why", a.body)
	}
	if f := h.failures(t, "endpoint.register"); len(f) != 1 || f[0]["reason"] != "account requires endpoint keys" {
		t.Errorf("audit of the refused registration: %v", f)
	}
	h.trusted(t, newEd25519Device(t, false), auto) // with a key

	a = signedLogin()
	wantOAuthError(t, a, http.StatusForbidden, api.CodeAccessDenied)
	if !strings.Contains(string(a.body), "requires a DPoP proof") {
		t.Errorf("refusal %s does not say why", a.body)
	}
	if f := h.failures(t, "login.session_user"); len(f) != 1 || !strings.Contains(f[0]["cause"], "requires DPoP") {
		t.Errorf("audit of the refused login: %v", f)
	}
	proof := p.proof(t, h, h.nonce(t), tok, nil)
	userToken(t, h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "DPoP "+tok, "DPoP", proof))
}
