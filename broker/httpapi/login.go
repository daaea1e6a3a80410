package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Device logins (SPEC S1-S4, S7, T3; docs/oauth.md): a printer, terminal
// or extension logs the person in front of it in and receives a user
// token.
//
//	POST /api/v1/login
//	X-API-Key: etk_...
//	Authorization: Bearer <device access token>   (or: DPoP <token>)
//	DPoP: <RFC 9449 proof>                        (or: HCP-Request-Signature)
//	{"type": "session_user", "username": "jdoe"}
//
// Every answer carries a fresh DPoP-Nonce header; a proof without a nonce
// the broker issued answers 401 use_dpop_nonce, and the client retries
// with the nonce it was given. A missing or refused key answers 403 with
// one body for every reason (SPEC K8).

// loginCredentials are the headers of a device login.
type loginCredentials struct {
	apiKey      string
	deviceToken string
	dpop        string // the DPoP header; "" = none
	signature   []byte // decoded HCP-Request-Signature; nil = none
}

// readLoginCredentials reads the key (X-API-Key, or "Authorization:
// ApiKey" when no device token is sent), the device token ("Authorization:
// Bearer" or "DPoP"), and the proofs. A header given twice is refused.
func readLoginCredentials(h http.Header) (loginCredentials, error) {
	var c loginCredentials
	for _, name := range []string{"X-API-Key", "Authorization", api.DPoPHeader} {
		if len(h.Values(name)) > 1 {
			return c, invalid("the %s header is given more than once", name)
		}
	}
	c.apiKey = strings.TrimSpace(h.Get("X-API-Key"))
	if authz := h.Get("Authorization"); authz != "" {
		scheme, cred, _ := strings.Cut(authz, " ")
		cred = strings.TrimSpace(cred)
		switch {
		case strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "DPoP"):
			c.deviceToken = cred
		case strings.EqualFold(scheme, "ApiKey") && c.apiKey == "":
			c.apiKey = cred
		case strings.EqualFold(scheme, "ApiKey"):
			return c, invalid("send the API key once: as X-API-Key, or as Authorization: ApiKey")
		default:
			return c, invalid("the Authorization header must be \"Bearer <device access token>\" (or DPoP, or ApiKey)")
		}
		if cred == "" {
			return c, invalid("the Authorization header has no credentials")
		}
	}
	c.dpop = strings.TrimSpace(h.Get(api.DPoPHeader))
	sig, err := requestSignature(h)
	if err != nil {
		return c, err
	}
	c.signature = sig
	return c, nil
}

// login is POST /api/v1/login.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// A fresh nonce on every answer, so a device always holds a good one.
	nonce, err := a.reg.DPoPNonce(ctx)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set(api.DPoPNonceHeader, nonce)

	body, err := readJSONBody(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req api.LoginRequest
	if err := decodeBytes(r, body, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := readLoginCredentials(r.Header)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	lr := registry.LoginRequest{
		APIKey: c.apiKey, AccountID: req.AccountID, DeviceToken: c.deviceToken, Body: body, Signature: c.signature,
		Type: req.Type, Username: req.Username, Domain: req.Domain, UPN: req.UPN, Password: req.Password,
		CardID: req.CardID, ShortID: req.ShortID, Remote: remote(r),
	}
	if c.dpop != "" {
		jkt, err := a.checkDPoP(r, c.dpop, c.deviceToken)
		var de *dpopError
		switch {
		case errors.As(err, &de) && de.code == api.CodeUseDPoPNonce:
			a.writeDPoPError(w, r, de) // the nonce first: the client retries with it
			return
		case de != nil:
			lr.ProofError = de // answered once the key has passed (K8)
		case err != nil:
			a.writeError(w, r, err)
			return
		default:
			lr.JKT = jkt
		}
	}
	tp, u, err := a.reg.LoginUser(ctx, lr)
	if err != nil {
		if de := dpopErrorIn(err); de != nil {
			a.writeDPoPError(w, r, de)
			return
		}
		a.writeError(w, r, err)
		return
	}
	out := tokenResponse(tp)
	out.User = &api.User{ID: u.ID, Username: u.Username, AccountID: u.AccountID}
	writeJSON(w, http.StatusOK, out)
}

// checkDPoP verifies a DPoP proof for r and the device token, checks its
// nonce and records its jti, and returns the thumbprint of the key it
// proves. Errors: *dpopError, or a registry error (the store failed).
func (a *API) checkDPoP(r *http.Request, proof, deviceToken string) (string, error) {
	p, err := parseDPoP(proof)
	if err != nil {
		return "", err
	}
	if err := p.checkRequest(r, deviceToken); err != nil {
		return "", err
	}
	if p.nonce == "" {
		return "", &dpopError{code: api.CodeUseDPoPNonce, msg: "the DPoP proof needs the nonce of the DPoP-Nonce header of this answer"}
	}
	expires, ok, err := a.reg.CheckDPoPNonce(r.Context(), p.nonce)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &dpopError{code: api.CodeUseDPoPNonce, msg: "the DPoP nonce is stale or unknown: retry with the nonce of the DPoP-Nonce header of this answer"}
	}
	if err := a.reg.UseDPoPProof(r.Context(), p.jkt, p.jti, expires); err != nil {
		if errors.Is(err, registry.ErrDPoPReplay) {
			return "", badProof("the DPoP proof was used before: make a new one, with a new jti, for each request", err)
		}
		return "", err
	}
	return p.jkt, nil
}

// readJSONBody reads the exact body of r (what HCP-Request-Signature
// signs); its Content-Type, when given, must be JSON.
func readJSONBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, invalid("the request needs a JSON body")
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, decodeError(err)
	}
	return b, nil
}

// decodeBytes is decode over a body already read.
func decodeBytes(r *http.Request, body []byte, v any) error {
	rr := r.Clone(r.Context())
	rr.Body = io.NopCloser(bytes.NewReader(body))
	return decode(rr, v)
}
