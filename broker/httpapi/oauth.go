package httpapi

import (
	"net/http"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/web"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// The OAuth device registration API (SPEC §6, docs/oauth.md): printers,
// terminals and extensions register with a form, poll /token with the
// device code until an admin trusts them, and refresh their tokens there.
// Requests are form-encoded, answers JSON; failures are
// {"error", "error_description"} with the RFCs' status codes (oauthStatus).

// OAuthConfig configures the OAuth API; the zero value means defaults.
type OAuthConfig struct {
	// PollInterval is the polling interval announced to devices and
	// enforced with slow_down (0 = registry.DefaultPollInterval, 5 s).
	PollInterval time.Duration
}

// oauthAPI serves /oauth/v1.
type oauthAPI struct {
	*API
	interval time.Duration
}

// mountOAuth adds the OAuth routes and the RFC 8414 metadata to mux.
func (a *API) mountOAuth(mux *web.RouteMux, cfg OAuthConfig) {
	o := &oauthAPI{API: a, interval: cfg.PollInterval}
	if o.interval <= 0 {
		o.interval = registry.DefaultPollInterval
	}
	mux.HandleFunc("POST "+api.PathOAuthRegister, o.noStore(o.register))
	mux.HandleFunc("POST "+api.PathOAuthToken, o.noStore(o.token))
	mux.HandleFunc("POST "+api.PathOAuthIntrospect, o.noStore(o.introspect))
	mux.HandleFunc("POST "+api.PathOAuthRevoke, o.noStore(o.revoke))
	mux.HandleFunc("GET "+api.PathOAuthMetadata, o.metadata)
	mux.HandleFunc("/oauth/", o.noStore(o.noRoute))
}

// noStore marks answers that carry tokens or codes as not cacheable (RFC
// 6749 §5.1).
func (o *oauthAPI) noStore(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		next(w, r)
	}
}

func (o *oauthAPI) noRoute(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case api.PathOAuthRegister, api.PathOAuthToken, api.PathOAuthIntrospect, api.PathOAuthRevoke:
		w.Header().Set("Allow", http.MethodPost)
		o.writeOAuthError(w, r, &oauthError{status: http.StatusMethodNotAllowed, code: api.CodeInvalidRequest, msg: "use POST with a form-encoded body"})
	default:
		o.writeOAuthError(w, r, &oauthError{status: http.StatusNotFound, code: api.CodeInvalidRequest, msg: "no such OAuth route: " + r.Method + " " + r.URL.Path})
	}
}

// noClientID refuses a device's request without its client_id.
const noClientID = "client_id is required (the device's UUID)"

// maxState bounds the state parameter echoed back.
const maxState = 512

// register is the device authorization request: /oauth/v1/register.
func (o *oauthAPI) register(w http.ResponseWriter, r *http.Request) {
	body, form, err := readForm(r)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	switch rt := form.Get("response_type"); rt {
	case "device_code":
	case "":
		o.writeOAuthError(w, r, invalid("response_type is required (device_code)"))
		return
	default:
		o.writeOAuthError(w, r, &oauthError{code: api.CodeUnsupportedResponseType, msg: "response_type must be device_code"})
		return
	}
	c, err := clientAuth(r.Header, form)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	if c.id == "" {
		o.writeOAuthError(w, r, invalid(noClientID))
		return
	}
	clientType, err := required(form, "client_type")
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	keyType, keyText := form.Get("key_type"), form.Get("public_key")
	if (keyType == "") != (keyText == "") {
		o.writeOAuthError(w, r, invalid("public_key and key_type go together: send both or neither"))
		return
	}
	var pub []byte
	if keyText != "" {
		if pub, err = decodeKeyParam(keyText); err != nil {
			o.writeOAuthError(w, r, err)
			return
		}
	}
	sig, err := requestSignature(r.Header)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	var state *string
	if form.Has("state") {
		s := form.Get("state")
		if len(s) > maxState {
			o.writeOAuthError(w, r, invalid("state is longer than %d bytes", maxState))
			return
		}
		state = &s
	}
	da, err := o.reg.RegisterDevice(r.Context(), registry.DeviceRegisterRequest{
		RegisterRequest: registry.RegisterRequest{
			APIKey: c.secret, AccountID: form.Get("account_id"), ClientID: c.id, ClientType: clientType,
			Description: form.Get("client_description"), Hostname: form.Get("hostname"), OS: form.Get("os"),
			Version: form.Get("version"), KeyType: keyType, PublicKey: pub, Remote: remote(r),
		},
		Body: body, Signature: sig, Interval: o.interval,
	})
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.DeviceAuthorization{
		DeviceCode: da.DeviceCode, State: state, ExpiresIn: seconds(da.ExpiresIn), Interval: seconds(da.Interval),
	})
}

// token is the token endpoint: the device_code and refresh_token grants.
func (o *oauthAPI) token(w http.ResponseWriter, r *http.Request) {
	body, form, c, err := readClientForm(r)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	sig, err := requestSignature(r.Header)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	grant := form.Get("grant_type")
	switch grant {
	case api.GrantDeviceCode, api.GrantDeviceCodeURN, api.GrantRefreshToken:
	case "":
		o.writeOAuthError(w, r, invalid("grant_type is required"))
		return
	default:
		o.writeOAuthError(w, r, &oauthError{code: api.CodeUnsupportedGrantType,
			msg: "grant_type must be " + api.GrantDeviceCode + ", " + api.GrantDeviceCodeURN + " or " + api.GrantRefreshToken})
		return
	}
	if c.id == "" {
		o.writeOAuthError(w, r, invalid(noClientID))
		return
	}
	var tp *registry.TokenPair
	if grant == api.GrantRefreshToken {
		var rt string
		if rt, err = required(form, "refresh_token"); err != nil {
			o.writeOAuthError(w, r, err)
			return
		}
		tp, err = o.reg.RefreshDevice(r.Context(), registry.DeviceRefreshRequest{
			APIKey: c.secret, ClientID: c.id, RefreshToken: rt, Body: body, Signature: sig, Remote: remote(r),
		})
	} else {
		var code string
		if code, err = required(form, "device_code"); err != nil {
			o.writeOAuthError(w, r, err)
			return
		}
		tp, err = o.reg.DeviceToken(r.Context(), registry.DeviceTokenRequest{
			APIKey: c.secret, ClientID: c.id, DeviceCode: code, Body: body, Signature: sig, Remote: remote(r),
		})
	}
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.OAuthToken{
		AccessToken: tp.AccessToken, TokenType: tp.TokenType, ExpiresIn: seconds(tp.ExpiresIn),
		RefreshToken: tp.RefreshToken, RefreshExpiresIn: seconds(tp.RefreshExpiresIn),
	})
}

// introspect is RFC 7662 for relying services; their key needs full API
// access (SPEC T4).
func (o *oauthAPI) introspect(w http.ResponseWriter, r *http.Request) {
	_, form, c, err := readClientForm(r)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	tok, err := required(form, "token")
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	in, err := o.reg.Introspect(r.Context(), registry.IntrospectRequest{APIKey: c.secret, Token: tok, Remote: remote(r)})
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	out := api.Introspection{Active: in.Active}
	if in.Active {
		out = api.Introspection{
			Active: true, TokenUse: in.TokenUse, Subject: in.Subject, Account: in.Account, ClientID: in.ClientID,
			Issuer: in.Issuer, Audience: in.Audience, JTI: in.JTI, IssuedAt: unix(in.IssuedAt), Expires: unix(in.ExpiresAt),
		}
		if in.JKT != "" {
			out.Cnf = &api.Cnf{JKT: in.JKT}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// revoke is RFC 7009 for endpoints: their own tokens and those of logins
// through them.
func (o *oauthAPI) revoke(w http.ResponseWriter, r *http.Request) {
	_, form, c, err := readClientForm(r)
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	if c.id == "" {
		o.writeOAuthError(w, r, invalid(noClientID))
		return
	}
	tok, err := required(form, "token")
	if err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	if err := o.reg.Revoke(r.Context(), registry.RevokeRequest{APIKey: c.secret, ClientID: c.id, Token: tok, Remote: remote(r)}); err != nil {
		o.writeOAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// metadata is the RFC 8414 authorization server metadata. The issuer is the
// URL the caller reached the broker at.
func (o *oauthAPI) metadata(w http.ResponseWriter, r *http.Request) {
	base := "https://" + r.Host
	auth := []string{"client_secret_post", "client_secret_basic"}
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSON(w, http.StatusOK, api.ServerMetadata{
		Issuer:                            base,
		DeviceAuthorizationEndpoint:       base + api.PathOAuthRegister,
		TokenEndpoint:                     base + api.PathOAuthToken,
		IntrospectionEndpoint:             base + api.PathOAuthIntrospect,
		RevocationEndpoint:                base + api.PathOAuthRevoke,
		JWKSURI:                           base + "/.well-known/jwks.json",
		GrantTypesSupported:               []string{api.GrantDeviceCodeURN, api.GrantDeviceCode, api.GrantRefreshToken},
		ResponseTypesSupported:            []string{"device_code"},
		TokenEndpointAuthMethodsSupported: auth,
		IntrospectionEndpointAuthMethodsSupported: auth,
		RevocationEndpointAuthMethodsSupported:    auth,
		RequestSignatureHeader:                    api.SignatureHeader,
		RequestSignatureAlgValuesSupported:        []string{"EdDSA", "RS256"},
		PublicKeyTypesSupported:                   []string{registry.KeyTypeEd25519, registry.KeyTypeRSA, registry.KeyTypeX509},
		AccessTokenSigningAlgValuesSupported:      []string{"EdDSA"},
	})
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// unix returns t in Unix seconds, 0 for the zero time.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
