package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// prover is a device that makes RFC 9449 DPoP proofs the way a printer's
// firmware would: JSON header and claims, base64url, and the device key's
// signature over "header.claims".
type prover struct {
	*device
	jwk map[string]any
	alg string
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newEd25519Prover(t *testing.T) *prover {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := withKey(t, registry.KeyTypeEd25519, pub, pub, func(b []byte) []byte { return ed25519.Sign(priv, b) })
	return &prover{device: d, alg: "EdDSA", jwk: map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url(pub)}}
}

func newRSAProver(t *testing.T) *prover {
	t.Helper()
	k := rsaKey()
	return &prover{device: newRSADevice(t), alg: "RS256",
		jwk: map[string]any{"kty": "RSA", "n": b64url(k.N.Bytes()), "e": b64url(big.NewInt(int64(k.E)).Bytes())}}
}

// proof makes a DPoP proof for a POST to the login route; edit may change
// the header and claims before they are signed.
func (p *prover) proof(t *testing.T, h *oauthHarness, nonce, accessToken string, edit func(hdr, claims map[string]any)) string {
	t.Helper()
	hdr := map[string]any{"typ": "dpop+jwt", "alg": p.alg, "jwk": p.jwk}
	claims := map[string]any{"jti": uuid.NewString(), "htm": "POST", "htu": h.srv.URL + api.PathLogin, "iat": time.Now().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = b64url(sum[:])
	}
	if edit != nil {
		edit(hdr, claims)
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64url(hb) + "." + b64url(cb)
	return input + "." + b64url(p.sign([]byte(input)))
}

// loginCall posts a JSON body to /api/v1/login with headers (name, value
// pairs), as a device does.
func (h *oauthHarness) loginCall(t *testing.T, body string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+api.PathLogin, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return h.do(t, req)
}

func (h *oauthHarness) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// trusted registers d with an auto-trust key and returns its device tokens.
func (h *oauthHarness) trusted(t *testing.T, d *device, apiKey string) api.OAuthToken {
	t.Helper()
	da := h.register(t, d, apiKey)
	return h.tokens(t, h.poll(t, d, apiKey, da.DeviceCode))
}

// nonce returns a fresh DPoP nonce: every login answer carries one.
func (h *oauthHarness) nonce(t *testing.T) string {
	t.Helper()
	a := h.loginCall(t, `{}`)
	n := a.header.Get(api.DPoPNonceHeader)
	if n == "" {
		t.Fatalf("a login answer (%d %s) has no DPoP-Nonce", a.status, a.body)
	}
	return n
}

// userToken checks a successful login answer and returns it.
func userToken(t *testing.T, a answer) api.TokenResponse {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("login: %d %s", a.status, a.body)
	}
	var tr api.TokenResponse
	a.json(t, &tr)
	if tr.AccessToken == "" || !strings.HasPrefix(tr.RefreshToken, "etr_") || tr.TokenType != "Bearer" || tr.User == nil || tr.User.ID == "" {
		t.Fatalf("login answer %s", a.body)
	}
	return tr
}

// wantDPoPError checks a 401 DPoP answer: its code, in the body and in the
// WWW-Authenticate challenge, and a fresh nonce.
func wantDPoPError(t *testing.T, a answer, code string) {
	t.Helper()
	if a.status != http.StatusUnauthorized || a.oauthErr(t) != code {
		t.Fatalf("answer %d %s, want 401 %s", a.status, a.body, code)
	}
	if ch := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="`+code+`"`) {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	if a.header.Get(api.DPoPNonceHeader) == "" {
		t.Error("no DPoP-Nonce header")
	}
}

const sessionBody = `{"type":"session_user","username":"jdoe"}`

// TestLoginDPoP logs a user in from a printer with DPoP, over HTTPS, with
// the exact headers a printer sends, and every way it can go wrong.
func TestLoginDPoP(t *testing.T) {
	h := newOAuthHarness(t, true)
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	p := newEd25519Prover(t)
	tok := h.trusted(t, p.device, auto).AccessToken
	send := func(proof string, extra ...string) answer {
		return h.loginCall(t, sessionBody, append([]string{"X-API-Key", auto, "Authorization", "DPoP " + tok, "DPoP", proof}, extra...)...)
	}

	// The first proof has no nonce: the broker hands one out.
	first := send(p.proof(t, h, "", tok, nil))
	wantDPoPError(t, first, api.CodeUseDPoPNonce)
	nonce := first.header.Get(api.DPoPNonceHeader)

	proof := p.proof(t, h, nonce, tok, nil)
	tr := userToken(t, send(proof))
	if tr.User.Username != "jdoe" || tr.User.AccountID != h.env.RootAccountID {
		t.Errorf("user %+v", tr.User)
	}
	u := api.New(h.srv.URL, h.srv.Client())
	u.SetToken(tr.AccessToken)
	ss, err := u.ListSessions(context.Background(), "")
	if err != nil || len(ss) != 1 || ss[0].EndpointID != p.id || !ss[0].Current {
		t.Fatalf("the user's sessions: %+v %v", ss, err)
	}

	t.Run("replayed jti", func(t *testing.T) {
		wantDPoPError(t, send(proof), api.CodeInvalidDPoPProof)
	})
	t.Run("Bearer scheme", func(t *testing.T) {
		a := h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "Bearer "+tok, "DPoP", p.proof(t, h, nonce, tok, nil))
		userToken(t, a)
	})
	t.Run("RSA key, RS256", func(t *testing.T) {
		rp := newRSAProver(t)
		rtok := h.trusted(t, rp.device, auto).AccessToken
		a := h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "DPoP "+rtok, "DPoP", rp.proof(t, h, h.nonce(t), rtok, nil))
		userToken(t, a)
	})
	t.Run("wrong key", func(t *testing.T) {
		other := newEd25519Prover(t)
		a := send(other.proof(t, h, nonce, tok, nil))
		wantOAuthError(t, a, http.StatusForbidden, api.CodeAccessDenied)
	})
	t.Run("no proof", func(t *testing.T) {
		a := h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "Bearer "+tok)
		wantOAuthError(t, a, http.StatusForbidden, api.CodeAccessDenied)
		if a.header.Get(api.DPoPNonceHeader) == "" {
			t.Error("a refusal carries no DPoP-Nonce for the retry")
		}
	})
	for name, tc := range map[string]struct {
		edit func(hdr, claims map[string]any)
		code string
	}{
		"unknown nonce":      {func(_, c map[string]any) { c["nonce"] = "bm90LWEtbm9uY2U" }, api.CodeUseDPoPNonce},
		"wrong method":       {func(_, c map[string]any) { c["htm"] = "GET" }, api.CodeInvalidDPoPProof},
		"wrong URL":          {func(_, c map[string]any) { c["htu"] = h.srv.URL + "/api/v1/logout" }, api.CodeInvalidDPoPProof},
		"wrong host":         {func(_, c map[string]any) { c["htu"] = "https://broker.example" + api.PathLogin }, api.CodeInvalidDPoPProof},
		"wrong ath":          {func(_, c map[string]any) { c["ath"] = b64url(make([]byte, 32)) }, api.CodeInvalidDPoPProof},
		"no ath":             {func(_, c map[string]any) { delete(c, "ath") }, api.CodeInvalidDPoPProof},
		"no jti":             {func(_, c map[string]any) { delete(c, "jti") }, api.CodeInvalidDPoPProof},
		"no iat":             {func(_, c map[string]any) { delete(c, "iat") }, api.CodeInvalidDPoPProof},
		"iat a string":       {func(_, c map[string]any) { c["iat"] = "now" }, api.CodeInvalidDPoPProof},
		"typ JWT":            {func(hd, _ map[string]any) { hd["typ"] = "JWT" }, api.CodeInvalidDPoPProof},
		"no jwk":             {func(hd, _ map[string]any) { delete(hd, "jwk") }, api.CodeInvalidDPoPProof},
		"RS256 with Ed25519": {func(hd, _ map[string]any) { hd["alg"] = "RS256" }, api.CodeInvalidDPoPProof},
		"private jwk": {func(hd, _ map[string]any) {
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			hd["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url(priv.Public().(ed25519.PublicKey)), "d": b64url(priv.Seed())}
		}, api.CodeInvalidDPoPProof},
	} {
		t.Run(name, func(t *testing.T) {
			wantDPoPError(t, send(p.proof(t, h, nonce, tok, tc.edit)), tc.code)
		})
	}
	t.Run("alg none", func(t *testing.T) {
		hb, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": p.jwk})
		cb, _ := json.Marshal(map[string]any{"jti": uuid.NewString(), "htm": "POST", "htu": h.srv.URL + api.PathLogin, "iat": 1, "nonce": nonce})
		wantDPoPError(t, send(b64url(hb)+"."+b64url(cb)+"."), api.CodeInvalidDPoPProof)
	})
	t.Run("alg HS256", func(t *testing.T) {
		hb, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": p.jwk})
		cb, _ := json.Marshal(map[string]any{"jti": uuid.NewString(), "htm": "POST", "htu": h.srv.URL + api.PathLogin, "iat": 1, "nonce": nonce})
		in := b64url(hb) + "." + b64url(cb)
		m := hmac.New(sha256.New, []byte(auto))
		m.Write([]byte(in))
		wantDPoPError(t, send(in+"."+b64url(m.Sum(nil))), api.CodeInvalidDPoPProof)
	})
	t.Run("signature of other claims", func(t *testing.T) {
		good := strings.Split(p.proof(t, h, nonce, tok, nil), ".")
		other := strings.Split(p.proof(t, h, nonce, tok, func(_, c map[string]any) { c["jti"] = "x" }), ".")
		wantDPoPError(t, send(good[0]+"."+other[1]+"."+good[2]), api.CodeInvalidDPoPProof)
	})
	t.Run("two DPoP headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+api.PathLogin, strings.NewReader(sessionBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", auto)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Add("DPoP", p.proof(t, h, nonce, tok, nil))
		req.Header.Add("DPoP", p.proof(t, h, nonce, tok, nil))
		wantOAuthError(t, h.do(t, req), http.StatusBadRequest, api.CodeInvalidRequest)
	})

	// A nonce of five minutes ago is stale; so is, later, the device token.
	h.clock.Advance(registry.DPoPNonceTTL)
	wantDPoPError(t, send(p.proof(t, h, nonce, tok, nil)), api.CodeUseDPoPNonce)
	h.clock.Advance(15 * time.Minute)
	a := send(p.proof(t, h, h.nonce(t), tok, nil))
	wantOAuthError(t, a, http.StatusForbidden, api.CodeAccessDenied)
	if !strings.Contains(string(a.body), "expired") {
		t.Errorf("an expired device token: %s", a.body)
	}
}

// An endpoint untrusted now cannot log anyone in, whatever its token.
func TestLoginUntrustedNow(t *testing.T) {
	h := newOAuthHarness(t, false)
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	p := newEd25519Prover(t)
	tok := h.trusted(t, p.device, auto).AccessToken
	userToken(t, h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "DPoP "+tok, "DPoP", p.proof(t, h, h.nonce(t), tok, nil)))
	if _, err := h.admin.UntrustEndpoint(context.Background(), p.id); err != nil {
		t.Fatal(err)
	}
	a := h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "DPoP "+tok, "DPoP", p.proof(t, h, h.nonce(t), tok, nil))
	wantOAuthError(t, a, http.StatusForbidden, api.CodeAccessDenied)
}

// TestLoginRequestSignature: clients built for the seeds' API prove the
// key with HCP-Request-Signature over the exact body.
func TestLoginRequestSignature(t *testing.T) {
	h := newOAuthHarness(t, false)
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	for _, d := range []*device{newEd25519Device(t, false), newRSADevice(t), newX509Device(t, false)} {
		t.Run(d.keyType, func(t *testing.T) {
			tok := h.trusted(t, d, auto).AccessToken
			sig := base64.StdEncoding.EncodeToString(d.sign([]byte(sessionBody)))
			userToken(t, h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "Bearer "+tok, api.SignatureHeader, sig))
			// The same signature over another body (a space more) does not do.
			a := h.loginCall(t, sessionBody+" ", "X-API-Key", auto, "Authorization", "Bearer "+tok, api.SignatureHeader, sig)
			wantOAuthError(t, a, http.StatusForbidden, api.CodeAccessDenied)
		})
	}
	t.Run("keyless endpoint", func(t *testing.T) {
		d := keylessDevice()
		tok := h.trusted(t, d, auto).AccessToken
		userToken(t, h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "Bearer "+tok))
	})
	t.Run("malformed signature", func(t *testing.T) {
		a := h.loginCall(t, sessionBody, "X-API-Key", auto, "Authorization", "Bearer x.y.z", api.SignatureHeader, "***")
		wantOAuthError(t, a, http.StatusBadRequest, api.CodeInvalidRequest)
	})
}

// TestLoginTypesHTTP logs in with each type of SPEC S1 from a trusted
// printer (signed bodies), and without a device where the key allows it.
func TestLoginTypesHTTP(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	d := newEd25519Device(t, false)
	tok := h.trusted(t, d, auto).AccessToken
	pw := "paula-password-1"
	paula, err := h.admin.CreateUser(ctx, api.CreateUserRequest{Username: "paula", Domain: "CORP", UPN: "paula@corp.example",
		Password: pw, CardID: "04A1B2C3", ShortID: "4711"})
	if err != nil {
		t.Fatal(err)
	}
	login := func(body string, apiKey, deviceToken string) answer {
		hdr := []string{"X-API-Key", apiKey}
		if deviceToken != "" {
			hdr = append(hdr, "Authorization", "Bearer "+deviceToken, api.SignatureHeader, base64.StdEncoding.EncodeToString(d.sign([]byte(body))))
		}
		return h.loginCall(t, body, hdr...)
	}
	type loginCase struct {
		name, body string
		wantUser   string // "" = a user the login made
		status     int
		code       string
	}
	cases := []loginCase{
		{"session_user", `{"type":"session_user","username":"walk-in"}`, "", 200, ""},
		{"session_user_domain", `{"type":"session_user_domain","username":"paula","domain":"corp"}`, paula.ID, 200, ""},
		{"upn", `{"type":"upn","upn":"Paula@Corp.Example"}`, paula.ID, 200, ""},
		{"password", `{"type":"password","username":"paula","domain":"CORP","password":"` + pw + `"}`, paula.ID, 200, ""},
		{"password, wrong", `{"type":"password","username":"paula","domain":"CORP","password":"nope"}`, "", 403, api.CodeLoginRefused},
		{"card_id", `{"type":"card_id","card_id":"04a1b2c3"}`, paula.ID, 200, ""},
		{"short_id", `{"type":"short_id","short_id":"4711"}`, paula.ID, 200, ""},
		{"unknown card", `{"type":"card_id","card_id":"0000"}`, "", 404, api.CodeUnknownUser},
		{"admin by session", `{"type":"session_user","username":"admin"}`, "", 403, api.CodeLoginRefused},
		{"unknown type", `{"type":"telepathy","username":"x"}`, "", 400, api.CodeInvalidRequest},
		{"type missing", `{"username":"x"}`, "", 400, api.CodeInvalidRequest},
		{"not JSON", `type=session_user`, "", 400, api.CodeInvalidRequest},
		{"wrong field type", `{"type":"card_id","card_id":4711}`, "", 400, api.CodeInvalidRequest},
	}
	// Each login type of the wire vocabulary has a case named after it.
	for _, typ := range protocol.LoginTypes() {
		if !slices.ContainsFunc(cases, func(c loginCase) bool { return c.name == typ }) {
			t.Errorf("no case logs in with type %q", typ)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := login(tc.body, auto, tok)
			if tc.status != 200 {
				wantOAuthError(t, a, tc.status, tc.code)
				return
			}
			tr := userToken(t, a)
			if tc.wantUser != "" && tr.User.ID != tc.wantUser {
				t.Errorf("user %s, want %s", tr.User.ID, tc.wantUser)
			}
		})
	}

	// S2, S4 without a device token: the key decides.
	untrusted := h.key(t, api.CreateKeyRequest{AllowUntrustedEndpoints: true})
	open := h.key(t, api.CreateKeyRequest{AllowUntrustedEndpoints: true, AllowUnauthenticated: true})
	for _, tc := range []struct {
		name, key, body string
		status          int
	}{
		{"session, key of a trusted-only kind", auto, sessionBody, 403},
		{"session, untrusted endpoints allowed", untrusted, sessionBody, 200},
		{"card, untrusted endpoints only", untrusted, `{"type":"card_id","card_id":"04A1B2C3"}`, 403},
		{"card, unauthenticated too", open, `{"type":"card_id","card_id":"04A1B2C3"}`, 200},
	} {
		t.Run("no device: "+tc.name, func(t *testing.T) {
			a := login(tc.body, tc.key, "")
			if tc.status == 200 {
				userToken(t, a)
				return
			}
			wantOAuthError(t, a, tc.status, api.CodeAccessDenied)
		})
	}
}

// A missing or refused key answers 403 with one body, whatever the reason
// (SPEC K8), before anything else about the request is told.
func TestLoginKeyRefusals(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	d := newEd25519Device(t, false)
	tok := h.trusted(t, d, auto).AccessToken

	dead, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "to deactivate", AutoTrust: true})
	if err != nil {
		t.Fatal(err)
	}
	dd := newEd25519Device(t, false)
	deadTok := h.trusted(t, dd, dead.Value).AccessToken
	off := false
	if _, err := h.admin.UpdateKey(ctx, dead.ID, api.UpdateKeyRequest{Active: &off}); err != nil {
		t.Fatal(err)
	}
	revoked, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "revoked value"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.admin.RevokeKeyValue(ctx, revoked.ID, revoked.ValueID); err != nil {
		t.Fatal(err)
	}
	elsewhere, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "far away", AllowedIPs: []string{"192.0.2.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	child, err := h.admin.CreateAccount(ctx, api.CreateAccountRequest{Name: "child"})
	if err != nil {
		t.Fatal(err)
	}
	below, err := h.admin.CreateKey(ctx, api.CreateKeyRequest{Name: "of a child account", AccountID: child.ID})
	if err != nil {
		t.Fatal(err)
	}
	mistyped := auto[:len(auto)-1] + map[bool]string{true: "a", false: "b"}[strings.HasSuffix(auto, "b")]

	signed := func(d *device, body string) string { return base64.StdEncoding.EncodeToString(d.sign([]byte(body))) }
	cases := map[string][]string{
		"no key":                  {"Authorization", "Bearer " + tok, api.SignatureHeader, signed(d, sessionBody)},
		"malformed key":           {"X-API-Key", "etk_nope", "Authorization", "Bearer " + tok, api.SignatureHeader, signed(d, sessionBody)},
		"mistyped key":            {"X-API-Key", mistyped, "Authorization", "Bearer " + tok, api.SignatureHeader, signed(d, sessionBody)},
		"inactive key":            {"X-API-Key", dead.Value, "Authorization", "Bearer " + deadTok, api.SignatureHeader, signed(dd, sessionBody)},
		"revoked value":           {"X-API-Key", revoked.Value, "Authorization", "Bearer " + tok, api.SignatureHeader, signed(d, sessionBody)},
		"address not allowed":     {"X-API-Key", elsewhere.Value, "Authorization", "Bearer " + tok, api.SignatureHeader, signed(d, sessionBody)},
		"key of an account below": {"X-API-Key", below.Value, "Authorization", "Bearer " + tok, api.SignatureHeader, signed(d, sessionBody)},
		"bad key and bad token":   {"X-API-Key", "etk_nope", "Authorization", "Bearer not.a.token"},
		"no key, no token":        {},
		"bad key and a bad DPoP":  {"X-API-Key", "etk_nope", "Authorization", "DPoP " + tok, "DPoP", "not-a-proof"},
		"no key, no proof":        {"Authorization", "Bearer " + tok},
	}
	var first []byte
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			a := h.loginCall(t, sessionBody, hdr...)
			wantOAuthError(t, a, http.StatusForbidden, api.CodeInvalidClient)
			if first == nil {
				first = a.body
			} else if d := cmp.Diff(string(first), string(a.body)); d != "" {
				t.Errorf("refusal bodies differ (-first +this):\n%s", d)
			}
		})
	}
	// Repeats of one reason from this address are folded into count rows
	// (issue 12, point 5), written here at once.
	if err := h.env.Registry.FlushRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := h.admin.ListAudit(ctx, api.AuditFilter{Action: "login.session_user", Outcome: "failure"})
	refused := 0
	for _, e := range evs {
		refused++
		if n, err := strconv.Atoi(e.Detail["count"]); err == nil {
			refused += n - 1
		}
	}
	if err != nil || refused < len(cases) {
		t.Errorf("%d refusals audited (%v), want %d", refused, err, len(cases))
	}
	for _, e := range h.logs.All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, auto) || strings.Contains(s, tok)) {
				t.Errorf("log %q holds a secret", e.Message)
			}
		}
	}
}
