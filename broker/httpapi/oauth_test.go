package httpapi_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Issue 10, points 3 and 4, over real HTTPS: an attacker holds the shared
// fleet key and an endpoint's client id, nothing more.

// failures returns the failed audit events of action, as "reason" details.
func (h *oauthHarness) failures(t *testing.T, action string) []map[string]string {
	t.Helper()
	var out []map[string]string
	if err := h.env.Store.View(context.Background(), func(tx registry.Tx) error {
		evs, err := tx.ListAudit(registry.AuditFilter{Action: action, Outcome: registry.OutcomeFailure})
		for _, ev := range evs {
			out = append(out, ev.Detail)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// manualClock is a clock the test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// oauthHarness is a broker's HTTP API over real HTTPS on 127.0.0.1 with a
// 1 s polling interval, an admin client, and the registry behind it.
type oauthHarness struct {
	srv   *httptest.Server
	env   *brokertest.Env
	admin *api.Client
	clock *manualClock // nil: the system clock
	logs  *observer.ObservedLogs
}

const testInterval = time.Second

func newOAuthHarness(t *testing.T, fakeClock bool) *oauthHarness {
	t.Helper()
	h := &oauthHarness{}
	var clk registry.Clock
	if fakeClock {
		h.clock = &manualClock{t: time.Now().UTC().Truncate(time.Second)}
		clk = h.clock
	}
	h.env = brokertest.New(t, brokertest.Options{Clock: clk})
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	// The log goes to the test's output too: a failure shows the cause of a 500.
	logger := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	a, err := httpapi.New(httpapi.Config{Registry: h.env.Registry, JWKS: h.env.Issuer.JWKS(), Logger: logger,
		OAuth: httpapi.OAuthConfig{PollInterval: testInterval}})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	h.srv = httptest.NewTLSServer(a.Handler())
	t.Cleanup(h.srv.Close)
	h.admin = api.New(h.srv.URL, h.srv.Client())
	tr, err := h.admin.SignIn(context.Background(), api.SignInRequest{Username: "admin", Password: brokertest.AdminPassword})
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	h.admin.SetToken(tr.AccessToken)
	return h
}

// key creates an API key in the default account and returns its value.
func (h *oauthHarness) key(t *testing.T, req api.CreateKeyRequest) string {
	t.Helper()
	if req.Name == "" {
		req.Name = "oauth test key"
	}
	ck, err := h.admin.CreateKey(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return ck.Value
}

// device is a printer-style client: a client id and, unless keyless, a key
// it signs request bodies with.
type device struct {
	id      string
	keyType string // "" = keyless
	pub     string // public_key as sent: standard base64
	jkt     string // RFC 7638 thumbprint of its key
	sign    func(body []byte) []byte
}

func newEd25519Device(t *testing.T, spki bool) *device {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(pub)
	if spki {
		if raw, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	return withKey(t, registry.KeyTypeEd25519, raw, pub, func(b []byte) []byte { return ed25519.Sign(priv, b) })
}

// rsaKey is made once: generating RSA keys is slow.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func signRSA(k *rsa.PrivateKey) func([]byte) []byte {
	return func(b []byte) []byte {
		h := sha256.Sum256(b)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func newRSADevice(t *testing.T) *device {
	t.Helper()
	k := rsaKey()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return withKey(t, registry.KeyTypeRSA, der, &k.PublicKey, signRSA(k))
}

// newX509Device makes a self-signed certificate for an RSA or Ed25519 key.
func newX509Device(t *testing.T, useRSA bool) *device {
	t.Helper()
	var pub crypto.PublicKey
	var signer crypto.Signer
	var sign func([]byte) []byte
	if useRSA {
		k := rsaKey()
		pub, signer, sign = &k.PublicKey, k, signRSA(k)
	} else {
		p, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, signer, sign = p, priv, func(b []byte) []byte { return ed25519.Sign(priv, b) }
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "printer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return withKey(t, registry.KeyTypeX509, der, pub, sign)
}

func withKey(t *testing.T, keyType string, raw []byte, pub crypto.PublicKey, sign func([]byte) []byte) *device {
	t.Helper()
	jkt, err := protocol.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &device{id: uuid.NewString(), keyType: keyType, pub: base64.StdEncoding.EncodeToString(raw), jkt: jkt, sign: sign}
}

func keylessDevice() *device { return &device{id: uuid.NewString()} }

// form builds a form body in the order given, as a printer's firmware does.
func form(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

// registerBody is the form a device sends to /oauth/v1/register.
func (d *device) registerBody(apiKey string, extra ...string) string {
	kv := []string{"client_id", d.id, "client_secret", apiKey, "client_type", protocol.ClientPrinter,
		"response_type", "device_code", "client_description", "Floor 3 printer", "state", "st-" + d.id[:8]}
	if d.keyType != "" {
		kv = append(kv, "public_key", d.pub, "key_type", d.keyType)
	}
	return form(append(kv, extra...)...)
}

// answer is an HTTP answer of the broker.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", a.status, a.body, err)
	}
}

// oauthErr returns the error code of an error answer.
func (a answer) oauthErr(t *testing.T) string {
	t.Helper()
	var e api.ErrorResponse
	a.json(t, &e)
	return e.Error
}

// post sends body to path as a form; headers are name, value pairs.
func (h *oauthHarness) post(t *testing.T, path, body string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// signed posts body with the device's signature of it (none if keyless).
func (h *oauthHarness) signed(t *testing.T, d *device, path, body string, headers ...string) answer {
	t.Helper()
	if d.sign != nil {
		headers = append(headers, api.SignatureHeader, base64.StdEncoding.EncodeToString(d.sign([]byte(body))))
	}
	return h.post(t, path, body, headers...)
}

// register registers d (signed when it has a key) and returns its device code.
func (h *oauthHarness) register(t *testing.T, d *device, apiKey string) api.DeviceAuthorization {
	t.Helper()
	a := h.signed(t, d, api.PathOAuthRegister, d.registerBody(apiKey))
	if a.status != http.StatusOK {
		t.Fatalf("register: %d %s", a.status, a.body)
	}
	var da api.DeviceAuthorization
	a.json(t, &da)
	return da
}

func tokenBody(d *device, apiKey, code string) string {
	return form("grant_type", api.GrantDeviceCodeURN, "device_code", code, "client_id", d.id, "client_secret", apiKey)
}

// poll asks /token once for the device code's tokens.
func (h *oauthHarness) poll(t *testing.T, d *device, apiKey, code string) answer {
	t.Helper()
	return h.signed(t, d, api.PathOAuthToken, tokenBody(d, apiKey, code))
}

func (h *oauthHarness) tokens(t *testing.T, a answer) api.OAuthToken {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("token: %d %s", a.status, a.body)
	}
	var tok api.OAuthToken
	a.json(t, &tok)
	if tok.AccessToken == "" || !strings.HasPrefix(tok.RefreshToken, "etr_") || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("token answer %s", a.body)
	}
	return tok
}

// wantOAuthError checks an OAuth error answer's status and code.
func wantOAuthError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.oauthErr(t) != code {
		t.Fatalf("answer %d %s, want %d %s", a.status, a.body, status, code)
	}
}

func TestOAuthRegisterAndToken(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	devices := map[string]*device{
		"ed25519 raw":  newEd25519Device(t, false),
		"ed25519 spki": newEd25519Device(t, true),
		"rsa":          newRSADevice(t),
		"x509 rsa":     newX509Device(t, true),
		"x509 ed25519": newX509Device(t, false),
		"keyless":      keylessDevice(),
	}
	for name, d := range devices {
		t.Run(name, func(t *testing.T) {
			da := h.register(t, d, auto)
			want := api.DeviceAuthorization{DeviceCode: da.DeviceCode, State: ptr("st-" + d.id[:8]), ExpiresIn: 72 * 3600, Interval: 1}
			if diff := cmp.Diff(want, da); diff != "" || !strings.HasPrefix(da.DeviceCode, "etd_") {
				t.Errorf("register answer (-want +got):\n%s", diff)
			}
			tok := h.tokens(t, h.poll(t, d, auto, da.DeviceCode))
			c, err := h.env.Issuer.Verify(tok.AccessToken)
			if err != nil {
				t.Fatalf("access token: %v", err)
			}
			if c.Subject != d.id || c.Type != token.TypeDevice || c.JKT != d.jkt {
				t.Errorf("claims sub %q type %q jkt %q, want %q device %q", c.Subject, c.Type, c.JKT, d.id, d.jkt)
			}
			// The endpoint is the admin's like any other.
			ep, err := h.admin.GetEndpoint(ctx, d.id)
			if err != nil {
				t.Fatalf("GetEndpoint: %v", err)
			}
			if ep.State != protocol.StateTrusted || ep.Type != protocol.ClientPrinter || ep.Description != "Floor 3 printer" ||
				ep.KeyType != d.keyType || ep.KeyFingerprint != d.jkt || ep.Bound != (d.keyType != "") {
				t.Errorf("endpoint %+v", ep)
			}
			// A device code is single-use.
			wantOAuthError(t, h.poll(t, d, auto, da.DeviceCode), 400, "invalid_grant")
			// Refresh: signed, single-use, rotated.
			refresh := func(rt string) answer {
				return h.signed(t, d, api.PathOAuthToken, form("grant_type", "refresh_token", "refresh_token", rt, "client_id", d.id, "client_secret", auto))
			}
			next := h.tokens(t, refresh(tok.RefreshToken))
			if next.RefreshToken == tok.RefreshToken {
				t.Error("refresh token was not rotated")
			}
			// Once the chain moved on past it (its successor was used), a
			// spent token presented again is a reuse (T2; a spent token
			// whose successor nobody used is a lost answer's retry,
			// docs/clones.md).
			last := h.tokens(t, refresh(next.RefreshToken))
			wantOAuthError(t, refresh(tok.RefreshToken), 400, "invalid_grant")
			// Reuse revoked the chain: the rotated token is dead too.
			wantOAuthError(t, refresh(last.RefreshToken), 400, "invalid_grant")
		})
	}
	t.Run("the short grant name and HTTP Basic", func(t *testing.T) {
		d := newEd25519Device(t, false)
		da := h.register(t, d, auto)
		body := form("grant_type", "device_code", "device_code", da.DeviceCode)
		basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(d.id) + ":" + url.QueryEscape(auto)))
		h.tokens(t, h.signed(t, d, api.PathOAuthToken, body, "Authorization", "Basic "+basic))
	})
	t.Run("a signed re-registration without public_key", func(t *testing.T) {
		d := newRSADevice(t)
		h.register(t, d, auto)
		body := form("client_id", d.id, "client_secret", auto, "client_type", protocol.ClientPrinter, "response_type", "device_code", "version", "2.0")
		a := h.signed(t, d, api.PathOAuthRegister, body)
		var da api.DeviceAuthorization
		a.json(t, &da)
		if da.State != nil {
			t.Errorf("state echoed though none was sent: %s", a.body)
		}
		h.tokens(t, h.poll(t, d, auto, da.DeviceCode))
		if ep, _ := h.admin.GetEndpoint(ctx, d.id); ep == nil || ep.Version != "2.0" || ep.KeyFingerprint != d.jkt {
			t.Errorf("after a signed re-registration: %+v", ep)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestOAuthPolling(t *testing.T) {
	h := newOAuthHarness(t, true)
	ctx := context.Background()
	manual := h.key(t, api.CreateKeyRequest{})

	t.Run("pending, slow_down, approved", func(t *testing.T) {
		d := newEd25519Device(t, false)
		da := h.register(t, d, manual)
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "authorization_pending")
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "slow_down")
		h.clock.Advance(testInterval)
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "authorization_pending")
		if _, err := h.admin.ApproveEndpoint(ctx, d.id); err != nil {
			t.Fatal(err)
		}
		// Tokens come at once: the interval guards only pending answers.
		h.tokens(t, h.poll(t, d, manual, da.DeviceCode))
	})
	t.Run("the last poll is kept in the store", func(t *testing.T) {
		d := newEd25519Device(t, false)
		da := h.register(t, d, manual)
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "authorization_pending")
		// A second broker on the same store knows of that poll.
		other, err := httpapi.New(httpapi.Config{Registry: h.env.Registry, OAuth: httpapi.OAuthConfig{PollInterval: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		body := tokenBody(d, manual, da.DeviceCode)
		req := httptest.NewRequest(http.MethodPost, api.PathOAuthToken, strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:4000"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(api.SignatureHeader, base64.StdEncoding.EncodeToString(d.sign([]byte(body))))
		rec := httptest.NewRecorder()
		other.Handler().ServeHTTP(rec, req)
		wantOAuthError(t, answer{status: rec.Code, body: rec.Body.Bytes()}, 400, "slow_down")
	})
	t.Run("rejected", func(t *testing.T) {
		d := newRSADevice(t)
		da := h.register(t, d, manual)
		if _, err := h.admin.RejectEndpoint(ctx, d.id); err != nil {
			t.Fatal(err)
		}
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "access_denied")
	})
	t.Run("untrusted and deleted", func(t *testing.T) {
		d := keylessDevice()
		da := h.register(t, d, manual)
		h.admin.ApproveEndpoint(ctx, d.id)
		tok := h.tokens(t, h.poll(t, d, manual, da.DeviceCode))
		if _, err := h.admin.UntrustEndpoint(ctx, d.id); err != nil {
			t.Fatal(err)
		}
		da = h.register(t, d, manual) // never revives the endpoint (E4)
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "access_denied")
		refresh := form("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "client_id", d.id, "client_secret", manual)
		wantOAuthError(t, h.post(t, api.PathOAuthToken, refresh), 400, "invalid_grant") // untrust revoked it
		if err := h.admin.DeleteEndpoint(ctx, d.id); err != nil {
			t.Fatal(err)
		}
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "invalid_grant") // the code went with it
	})
	t.Run("expired", func(t *testing.T) {
		d := newEd25519Device(t, true)
		da := h.register(t, d, manual)
		h.clock.Advance(72 * time.Hour)
		wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "expired_token")
	})
}

// TestOAuthErrors sends every malformed or refused request a device could
// send and checks the status and OAuth error code of each answer.
func TestOAuthErrors(t *testing.T) {
	h := newOAuthHarness(t, false)
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	inactive := h.key(t, api.CreateKeyRequest{Active: ptr(false)})
	d := newEd25519Device(t, false)
	da := h.register(t, d, auto)
	other := newEd25519Device(t, false)
	otherCode := h.register(t, other, auto).DeviceCode
	sig := func(body string) string { return base64.StdEncoding.EncodeToString(d.sign([]byte(body))) }
	wrongSig := func(body string) string { return base64.StdEncoding.EncodeToString(other.sign([]byte(body))) }
	reg := func(kv ...string) string {
		base := map[string]string{"client_id": d.id, "client_secret": auto, "client_type": protocol.ClientPrinter, "response_type": "device_code"}
		var out []string
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(base, kv[i])
				continue
			}
			base[kv[i]] = kv[i+1]
		}
		for _, k := range []string{"client_id", "client_secret", "client_type", "response_type", "public_key", "key_type", "account_id"} {
			if v, ok := base[k]; ok {
				out = append(out, k, v)
			}
		}
		return form(out...)
	}
	tokBody := tokenBody(d, auto, da.DeviceCode)
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}

	tests := []struct {
		name    string
		path    string
		ctype   string // "" = form
		body    string
		headers []string
		status  int
		code    string
	}{
		{"json body", api.PathOAuthRegister, "application/json", `{"client_id":"x"}`, nil, 400, "invalid_request"},
		{"repeated parameter", api.PathOAuthRegister, "", reg() + "&client_type=server", nil, 400, "invalid_request"},
		{"bad escape", api.PathOAuthRegister, "", reg() + "&x=%zz", nil, 400, "invalid_request"},
		{"no response_type", api.PathOAuthRegister, "", reg("response_type", "-"), nil, 400, "invalid_request"},
		{"code response_type", api.PathOAuthRegister, "", reg("response_type", "code"), nil, 400, "unsupported_response_type"},
		{"no client_id", api.PathOAuthRegister, "", reg("client_id", "-"), nil, 400, "invalid_request"},
		{"client_id not a uuid", api.PathOAuthRegister, "", reg("client_id", "printer-7"), nil, 400, "invalid_request"},
		{"no client_type", api.PathOAuthRegister, "", reg("client_type", "-"), nil, 400, "invalid_request"},
		{"unknown client_type", api.PathOAuthRegister, "", reg("client_type", "toaster"), nil, 400, "invalid_request"},
		{"public_key without key_type", api.PathOAuthRegister, "", reg("public_key", d.pub), nil, 400, "invalid_request"},
		{"key_type without public_key", api.PathOAuthRegister, "", reg("key_type", "ed25519"), nil, 400, "invalid_request"},
		{"public_key not base64", api.PathOAuthRegister, "", reg("public_key", "!!", "key_type", "ed25519"), nil, 400, "invalid_request"},
		{"short ed25519 key", api.PathOAuthRegister, "", reg("public_key", "AAAA", "key_type", "ed25519"), nil, 400, "invalid_request"},
		{"dsa key type", api.PathOAuthRegister, "", reg("public_key", d.pub, "key_type", "dsa"), nil, 400, "invalid_request"},
		{"rsa key that is ed25519", api.PathOAuthRegister, "", reg("public_key", newEd25519Device(t, true).pub, "key_type", "rsa"), nil, 400, "invalid_request"},
		{"signature not base64", api.PathOAuthRegister, "", reg(), []string{api.SignatureHeader, "***"}, 400, "invalid_request"},
		{"signed, nothing to verify with", api.PathOAuthRegister, "", reg("client_id", uuid.NewString()), []string{api.SignatureHeader, "AAAA"}, 400, "invalid_request"},
		{"signature by another key", api.PathOAuthRegister, "", reg("public_key", d.pub, "key_type", "ed25519"), []string{api.SignatureHeader, wrongSig(reg("public_key", d.pub, "key_type", "ed25519"))}, 401, "invalid_client"},
		{"unknown key", api.PathOAuthRegister, "", reg("client_secret", "etk_nope"), nil, 401, "invalid_client"},
		{"no key", api.PathOAuthRegister, "", reg("client_secret", "-"), nil, 401, "invalid_client"},
		{"inactive key", api.PathOAuthRegister, "", reg("client_secret", inactive, "client_id", uuid.NewString()), nil, 401, "invalid_client"},
		{"key of no such account", api.PathOAuthRegister, "", reg("client_id", uuid.NewString(), "account_id", uuid.NewString()), nil, 401, "invalid_client"},
		{"key twice", api.PathOAuthRegister, "", reg(), []string{"X-API-Key", auto}, 400, "invalid_request"},
		{"basic and form secret", api.PathOAuthToken, "", tokBody, []string{"Authorization", basic(d.id, auto)}, 400, "invalid_request"},
		{"basic with another client_id", api.PathOAuthToken, "", form("grant_type", "device_code", "device_code", da.DeviceCode, "client_id", d.id), []string{"Authorization", basic(other.id, auto)}, 400, "invalid_request"},
		{"malformed basic", api.PathOAuthToken, "", form("grant_type", "device_code", "device_code", da.DeviceCode), []string{"Authorization", "Basic %%%"}, 400, "invalid_request"},
		{"bearer at token", api.PathOAuthToken, "", tokBody, []string{"Authorization", "Bearer x"}, 400, "invalid_request"},
		{"no grant_type", api.PathOAuthToken, "", form("device_code", da.DeviceCode, "client_id", d.id, "client_secret", auto), nil, 400, "invalid_request"},
		{"password grant", api.PathOAuthToken, "", form("grant_type", "password", "client_id", d.id, "client_secret", auto), nil, 400, "unsupported_grant_type"},
		{"no device_code", api.PathOAuthToken, "", form("grant_type", "device_code", "client_id", d.id, "client_secret", auto), nil, 400, "invalid_request"},
		{"no client_id at token", api.PathOAuthToken, "", form("grant_type", "device_code", "device_code", da.DeviceCode, "client_secret", auto), nil, 400, "invalid_request"},
		{"unknown device code", api.PathOAuthToken, "", tokenBody(d, auto, "etd_nope"), []string{api.SignatureHeader, sig(tokenBody(d, auto, "etd_nope"))}, 400, "invalid_grant"},
		{"another client's code", api.PathOAuthToken, "", tokenBody(d, auto, otherCode), []string{api.SignatureHeader, sig(tokenBody(d, auto, otherCode))}, 400, "invalid_grant"},
		{"unsigned poll of a keyed device", api.PathOAuthToken, "", tokBody, nil, 401, "invalid_client"},
		{"poll signed by another key", api.PathOAuthToken, "", tokBody, []string{api.SignatureHeader, wrongSig(tokBody)}, 401, "invalid_client"},
		{"poll signature over other bytes", api.PathOAuthToken, "", tokBody + "&x=1", []string{api.SignatureHeader, sig(tokBody)}, 401, "invalid_client"},
		{"poll with a bad key", api.PathOAuthToken, "", tokenBody(d, "etk_nope", da.DeviceCode), []string{api.SignatureHeader, sig(tokenBody(d, "etk_nope", da.DeviceCode))}, 401, "invalid_client"},
		{"no refresh_token", api.PathOAuthToken, "", form("grant_type", "refresh_token", "client_id", d.id, "client_secret", auto), nil, 400, "invalid_request"},
		{"unknown refresh token", api.PathOAuthToken, "", form("grant_type", "refresh_token", "refresh_token", "etr_x", "client_id", d.id, "client_secret", auto),
			[]string{api.SignatureHeader, sig(form("grant_type", "refresh_token", "refresh_token", "etr_x", "client_id", d.id, "client_secret", auto))}, 400, "invalid_grant"},
		{"unsigned refresh of a keyed device", api.PathOAuthToken, "", form("grant_type", "refresh_token", "refresh_token", "etr_x", "client_id", d.id, "client_secret", auto), nil, 401, "invalid_client"},
		{"introspect without token", api.PathOAuthIntrospect, "", form("client_secret", auto), nil, 400, "invalid_request"},
		{"revoke without client_id", api.PathOAuthRevoke, "", form("client_secret", auto, "token", "x"), nil, 400, "invalid_request"},
		{"GET token", api.PathOAuthToken, "GET", "", nil, 405, "invalid_request"},
		{"no such route", "/oauth/v1/authorize", "", "", nil, 404, "invalid_request"},
		{"body too large", api.PathOAuthRegister, "", reg() + "&client_description=" + strings.Repeat("x", 70<<10), nil, 400, "invalid_request"},
	}
	var refusal []byte
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, ctype := http.MethodPost, "application/x-www-form-urlencoded"
			switch tc.ctype {
			case "":
			case "GET":
				method = http.MethodGet
			default:
				ctype = tc.ctype
			}
			req, err := http.NewRequest(method, h.srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", ctype)
			for i := 0; i+1 < len(tc.headers); i += 2 {
				req.Header.Set(tc.headers[i], tc.headers[i+1])
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			a := answer{status: resp.StatusCode, header: resp.Header, body: body}
			wantOAuthError(t, a, tc.status, tc.code)
			var e api.ErrorResponse
			a.json(t, &e)
			if e.ErrorDescription == "" {
				t.Errorf("no error_description: %s", body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if tc.status == 401 {
				// Every refusal looks the same (K8).
				if refusal == nil {
					refusal = body
				} else if string(body) != string(refusal) {
					t.Errorf("refusal body %s differs from %s", body, refusal)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
			if strings.Contains(string(body), auto) {
				t.Error("the answer holds the API key")
			}
		})
	}
	// Refusals were audited with their reason; no key value was.
	var reasons []string
	h.env.Store.View(context.Background(), func(tx registry.Tx) error {
		evs, err := tx.ListAudit(registry.AuditFilter{})
		for _, ev := range evs {
			if ev.Outcome == registry.OutcomeFailure {
				reasons = append(reasons, ev.Action+": "+ev.Detail["reason"])
			}
			for _, v := range ev.Detail {
				if v == auto {
					t.Error("the audit holds a key value")
				}
			}
		}
		return err
	})
	for _, want := range []string{"endpoint.register: request signature does not verify", "endpoint.register: key inactive",
		"endpoint.token: request signature missing", "endpoint.token: request signature does not verify",
		"endpoint.refresh: request signature missing or does not verify"} {
		if !containsStr(reasons, want) {
			t.Errorf("no audited refusal %q in %q", want, reasons)
		}
	}
	// Nothing secret reached the log.
	for _, e := range h.logs.All() {
		for _, v := range e.ContextMap() {
			if s := fmt.Sprint(v); strings.Contains(s, auto) || strings.Contains(s, da.DeviceCode) {
				t.Errorf("log %q holds a secret", e.Message)
			}
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func cmpIgnore(fields ...string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		for _, f := range fields {
			if p.Last().String() == "."+f {
				return true
			}
		}
		return false
	}, cmp.Ignore())
}

// TestOAuthSameEndpointAsAgent: an endpoint registered by the agent's
// path re-registers over HTTP with the same key in another encoding and is
// the same endpoint.
func TestOAuthSameEndpointAsAgent(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	manual := h.key(t, api.CreateKeyRequest{})
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	id := uuid.NewString()
	res, err := h.env.Registry.Register(ctx, registry.RegisterRequest{APIKey: manual, ClientID: id, ClientType: protocol.ClientDesktop,
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Proven: true})
	if err != nil || res.Endpoint.State != registry.StatePending {
		t.Fatalf("agent registration: %+v %v", res, err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	d := withKey(t, registry.KeyTypeEd25519, spki, pub, func(b []byte) []byte { return ed25519.Sign(priv, b) })
	d.id = id
	da := h.register(t, d, manual)
	wantOAuthError(t, h.poll(t, d, manual, da.DeviceCode), 400, "authorization_pending")
	if changes, _ := h.admin.ListKeyChanges(ctx, ""); len(changes) != 0 {
		t.Fatalf("the same key in SPKI form made a key change: %+v", changes)
	}
	eps, err := h.admin.ListEndpoints(ctx, api.EndpointFilter{State: "pending"})
	if err != nil || len(eps) != 1 || eps[0].ID != id {
		t.Fatalf("pending endpoints %+v %v", eps, err)
	}
	h.admin.ApproveEndpoint(ctx, id)
	h.tokens(t, h.poll(t, d, manual, da.DeviceCode))
}

func TestOAuthIntrospectAndRevoke(t *testing.T) {
	h := newOAuthHarness(t, false)
	ctx := context.Background()
	auto := h.key(t, api.CreateKeyRequest{AutoTrust: true})
	relying := h.key(t, api.CreateKeyRequest{FullAPIAccess: true})
	d := newEd25519Device(t, false)
	tok := h.tokens(t, h.poll(t, d, auto, h.register(t, d, auto).DeviceCode))

	introspect := func(key, tokStr string, headers ...string) api.Introspection {
		t.Helper()
		body := form("token", tokStr, "token_type_hint", "access_token")
		if key != "" {
			headers = append(headers, "X-API-Key", key)
		}
		a := h.post(t, api.PathOAuthIntrospect, body, headers...)
		if a.status != 200 {
			t.Fatalf("introspect: %d %s", a.status, a.body)
		}
		var in api.Introspection
		a.json(t, &in)
		return in
	}
	in := introspect(relying, tok.AccessToken)
	if !in.Active || in.TokenUse != "device" || in.Subject != d.id || in.ClientID != d.id || in.Cnf == nil || in.Cnf.JKT != d.jkt || in.Expires == 0 {
		t.Errorf("introspection of a live device token: %+v", in)
	}
	if in := introspect(relying, tok.RefreshToken); !in.Active || in.TokenUse != "refresh" {
		t.Errorf("introspection of a live refresh token: %+v", in)
	}
	for _, junk := range []string{"x", "a.b.c", "etr_nope", tok.AccessToken + "x"} {
		if in := introspect(relying, junk); in.Active {
			t.Errorf("introspection of %q is active", junk)
		}
	}
	// A key without full API access may not introspect; it looks like any refusal.
	a := h.post(t, api.PathOAuthIntrospect, form("token", tok.AccessToken), "X-API-Key", auto)
	wantOAuthError(t, a, 401, "invalid_client")
	a = h.post(t, api.PathOAuthIntrospect, form("token", tok.AccessToken, "client_secret", relying))
	if a.status != 200 {
		t.Errorf("introspect with client_secret: %d %s", a.status, a.body)
	}

	// Revoking the access token shows at once.
	revoke := func(tokStr string) {
		t.Helper()
		a := h.post(t, api.PathOAuthRevoke, form("token", tokStr, "client_id", d.id, "client_secret", auto))
		if a.status != 200 {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
	}
	revoke(tok.AccessToken)
	if in := introspect(relying, tok.AccessToken); in.Active {
		t.Error("a revoked access token is active")
	}
	revoke("etr_unknown") // unknown tokens are no error (RFC 7009)
	// Another client's token is left alone.
	e := newEd25519Device(t, false)
	etok := h.tokens(t, h.poll(t, e, auto, h.register(t, e, auto).DeviceCode))
	revoke(etok.AccessToken)
	if in := introspect(relying, etok.AccessToken); !in.Active {
		t.Error("revoking another client's token took effect")
	}
	// A revoked refresh token takes its chain with it.
	revoke(tok.RefreshToken)
	refresh := h.signed(t, d, api.PathOAuthToken, form("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "client_id", d.id, "client_secret", auto))
	wantOAuthError(t, refresh, 400, "invalid_grant")

	// Untrust shows at once too (T4).
	if in := introspect(relying, etok.AccessToken); !in.Active {
		t.Fatal("not active before untrust")
	}
	h.admin.UntrustEndpoint(ctx, e.id)
	if in := introspect(relying, etok.AccessToken); in.Active {
		t.Error("a token of an untrusted endpoint is active")
	}
}

func TestOAuthMetadata(t *testing.T) {
	h := newOAuthHarness(t, false)
	resp, err := h.srv.Client().Get(h.srv.URL + api.PathOAuthMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md api.ServerMetadata
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	base := h.srv.URL
	if md.Issuer != base || md.DeviceAuthorizationEndpoint != base+api.PathOAuthRegister || md.TokenEndpoint != base+api.PathOAuthToken ||
		md.IntrospectionEndpoint != base+api.PathOAuthIntrospect || md.RevocationEndpoint != base+api.PathOAuthRevoke ||
		md.JWKSURI != base+"/.well-known/jwks.json" {
		t.Errorf("metadata %+v", md)
	}
	if !containsStr(md.GrantTypesSupported, api.GrantDeviceCodeURN) || !containsStr(md.GrantTypesSupported, api.GrantRefreshToken) {
		t.Errorf("grant types %v", md.GrantTypesSupported)
	}
	// Every endpoint named answers (a GET of a POST route says 405, not 404).
	for _, u := range []string{md.DeviceAuthorizationEndpoint, md.TokenEndpoint, md.IntrospectionEndpoint, md.RevocationEndpoint, md.JWKSURI} {
		r, err := h.srv.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode == http.StatusNotFound {
			t.Errorf("%s answers 404", u)
		}
	}
}
