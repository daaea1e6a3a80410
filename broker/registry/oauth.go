package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// The HTTP device flow (SPEC E3, E4, T3, T4): a device registers with a
// form, receives a device code, and polls the token endpoint with it until
// its endpoint is trusted. Registration goes through the same registerTx as
// the QUIC protocol, so an endpoint is the same endpoint to the admin
// whichever way it registered.

// deviceCodePrefix marks edgetrust device codes for secret scanners.
const deviceCodePrefix = "etd_"

// DefaultPollInterval is the device flow's polling interval when the
// transport names none (RFC 8628's default).
const DefaultPollInterval = 5 * time.Second

// pollSlack is the share of the interval a poll may come early without a
// slow_down: a client that waits exactly the interval sees jitter.
const pollSlack = 5 // interval/5

// DeviceRegisterRequest is a registration over HTTP. PublicKey and KeyType
// are as presented; Body is the exact request body and Signature the
// decoded HCP-Request-Signature (nil = unsigned).
type DeviceRegisterRequest struct {
	RegisterRequest
	Body      []byte
	Signature []byte
	// Interval is the polling interval to announce (0 = DefaultPollInterval).
	Interval time.Duration
}

// DeviceAuthorization is the answer to a registration over HTTP.
type DeviceAuthorization struct {
	DeviceCode string
	ExpiresIn  time.Duration
	Interval   time.Duration
	// Endpoint and KeyChange as in RegisterResult.
	Endpoint  Endpoint
	KeyChange bool
}

// RegisterDevice registers an endpoint over HTTP and hands out a device
// code (SPEC E1–E4, E9). A signature, when sent, must verify over Body with
// the presented key or, when none is presented, with the endpoint's
// registered key; such a registration is proven. Registering a key other
// than the endpoint's makes a pending key change; its device code waits for
// the admin's decision; so does an unsigned registration of an endpoint
// without a key (Register). Errors: KindInvalid, KindInvalidClient (every
// key refusal and a signature that does not verify), KindConflict.
func (r *Registry) RegisterDevice(ctx context.Context, req DeviceRegisterRequest) (*DeviceAuthorization, error) {
	var res RegisterResult
	out, err := r.registerDevice(ctx, req, &res)
	r.obs.Registration(registerOutcome(&res, err))
	return out, err
}

// registerDevice is RegisterDevice; it leaves in done the result of the
// registration, for the metrics.
func (r *Registry) registerDevice(ctx context.Context, req DeviceRegisterRequest, done *RegisterResult) (*DeviceAuthorization, error) {
	rr := req.RegisterRequest
	rr.Proven, rr.DeferTokens = false, true
	if err := validateRegister(&rr); err != nil {
		return nil, err
	}
	thumb, err := prepareKey(&rr)
	if err != nil {
		return nil, err
	}
	if len(req.Signature) > MaxSignatureBytes {
		return nil, E(KindInvalid, "HCP-Request-Signature is too long", nil)
	}
	if err := r.Fresh(); err != nil {
		return nil, err
	}
	if err := r.admitKey(ctx, "endpoint.register", rr.APIKey, rr.Remote, endpointTarget(rr.ClientID)); err != nil {
		return nil, err
	}
	interval := req.Interval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	now := r.now()
	var out *DeviceAuthorization
	var events []Event
	err = r.store.Update(ctx, func(tx Tx) error {
		out, events = nil, nil
		rr := rr // a retried transaction starts from the request again
		thumb := thumb
		if req.Signature != nil {
			var err error
			if thumb, err = r.proveRegistration(tx, &rr, thumb, req.Body, req.Signature); err != nil {
				return err
			}
		}
		var res RegisterResult
		if err := r.registerTx(tx, now, &rr, thumb, &res, &events); err != nil {
			return err
		}
		if res.changeThumb != "" {
			thumb = res.changeThumb // a keyless re-registration's code names its key change
		}
		secret, hash := newOpaque(deviceCodePrefix)
		dc := &DeviceCode{
			Hash: hash, EndpointID: res.Endpoint.ID, AccountID: res.Endpoint.AccountID,
			KeyType: rr.KeyType, PublicKey: rr.PublicKey, KeyThumbprint: thumb,
			Interval: interval, IssuedAt: now, ExpiresAt: now.Add(r.pendingTTL),
		}
		if err := tx.PutDeviceCode(dc); err != nil {
			return internal("storing device code", err)
		}
		out = &DeviceAuthorization{DeviceCode: secret, ExpiresIn: r.pendingTTL, Interval: interval, Endpoint: res.Endpoint, KeyChange: res.KeyChange}
		*done = res
		return nil
	})
	if err != nil {
		if KindOf(err) == KindInvalidClient {
			err = r.keyRefused(ctx, "endpoint.register", err, rr.Remote, endpointTarget(rr.ClientID))
		} else {
			r.auditRegisterRefusal(ctx, err, rr.Remote)
		}
		return nil, err
	}
	for _, ev := range events {
		r.publish(ev)
	}
	return out, nil
}

// proveRegistration checks a signed registration: against the presented
// key, or with none presented against the endpoint's registered key, which
// the request then carries. It returns the thumbprint of the key proven.
func (r *Registry) proveRegistration(tx Tx, req *RegisterRequest, thumb string, body, sig []byte) (string, error) {
	if req.KeyType == "" {
		ep, err := tx.GetEndpoint(req.ClientID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return "", internal("looking up endpoint", err)
		}
		if ep == nil || ep.KeyType == "" {
			return "", E(KindInvalid, "a signed registration needs public_key and key_type, or an endpoint with a registered key", nil)
		}
		req.KeyType, req.PublicKey, thumb = ep.KeyType, ep.PublicKey, ep.KeyThumbprint
	}
	pk, err := storedKey(req.KeyType, req.PublicKey)
	if err != nil {
		return "", err
	}
	if err := pk.Verify(body, sig); err != nil {
		return "", errKeyRefused(&refusal{reason: "request signature does not verify"})
	}
	req.Proven = true
	return thumb, nil
}

// DeviceTokenRequest is a device_code grant at the token endpoint.
type DeviceTokenRequest struct {
	APIKey     string // client_secret
	ClientID   string
	DeviceCode string
	Body       []byte // the exact request body
	Signature  []byte // decoded HCP-Request-Signature; nil = none
	Remote     netip.Addr
}

// DeviceToken exchanges a device code for device tokens once the endpoint
// is trusted (SPEC E3). When the code was issued for a key, the request must
// carry a signature over Body with that key. Answers, as errors:
// KindPending (authorization_pending), KindRateLimited (slow_down: polled
// again within the interval), KindAccessDenied (rejected, untrusted,
// deleted, or the key change was rejected), KindExpired (expired_token),
// KindInvalidGrant (unknown, spent, or another client's code),
// KindInvalidClient (every key refusal, and a missing or bad signature).
func (r *Registry) DeviceToken(ctx context.Context, req DeviceTokenRequest) (*TokenPair, error) {
	if err := r.Fresh(); err != nil {
		return nil, err
	}
	if err := r.admitKey(ctx, "endpoint.token", req.APIKey, req.Remote, endpointTarget(req.ClientID)); err != nil {
		return nil, err
	}
	now := r.now()
	hash := hashOpaque(req.DeviceCode)
	var is *issued
	var answer error // an answer whose writes are committed (a recorded poll)
	err := r.store.Update(ctx, func(tx Tx) error {
		is, answer = nil, nil
		dc, err := tx.GetDeviceCode(hash)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return internal("looking up device code", err)
		}
		target := ""
		if dc != nil && dc.EndpointID == req.ClientID {
			target = dc.AccountID
		}
		ku, err := r.checkKey(tx, now, req.APIKey, target, req.Remote)
		if err != nil {
			return err
		}
		if dc == nil || dc.EndpointID != req.ClientID {
			return E(KindInvalidGrant, "the device code is invalid", nil)
		}
		if dc.KeyType != "" {
			pk, err := storedKey(dc.KeyType, dc.PublicKey)
			if err != nil {
				return err
			}
			if pk.Verify(req.Body, req.Signature) != nil {
				reason := "request signature does not verify"
				if req.Signature == nil {
					reason = "request signature missing"
				}
				return ku.refuse(reason)
			}
		}
		if !dc.UsedAt.IsZero() {
			return E(KindInvalidGrant, "the device code was already used; register again for a new one", nil)
		}
		if !now.Before(dc.ExpiresAt) {
			return E(KindExpired, "the device code has expired; register again", nil)
		}
		ep, err := tx.GetEndpoint(dc.EndpointID)
		if errors.Is(err, ErrNotFound) {
			return E(KindAccessDenied, "the endpoint was deleted", err)
		}
		if err != nil {
			return internal("looking up endpoint", err)
		}
		switch {
		case ep.State == StateRejected || ep.State == StateUntrusted:
			return E(KindAccessDenied, "the endpoint is "+string(ep.State), nil)
		case dc.KeyThumbprint != ep.KeyThumbprint:
			kc, err := tx.GetKeyChange(ep.ID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return internal("looking up key change", err)
			}
			if kc == nil || kc.KeyThumbprint != dc.KeyThumbprint {
				return E(KindAccessDenied, "the key change was not approved", nil)
			}
			answer, err = r.pollPending(tx, now, dc)
			return err
		case ep.State == StatePending:
			answer, err = r.pollPending(tx, now, dc)
			return err
		}
		// Trusted, with the code's key.
		if err := tx.ConsumeDeviceCode(hash, now); err != nil {
			if errors.Is(err, ErrConflict) {
				return E(KindInvalidGrant, "the device code was already used; register again for a new one", err)
			}
			return internal("consuming device code", err)
		}
		if err := recordUse(tx, now, ku, req.Remote); err != nil {
			return err
		}
		if err := seen(tx, now, ep, req.Remote); err != nil {
			return err
		}
		if is, err = r.issueDevice(tx, now, ep, ku.target); err != nil {
			return err
		}
		return audit(tx, now, "endpoint:"+ep.ID, "endpoint.token", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, req.Remote,
			map[string]string{"grant": "device_code", "key_id": ku.key.ID})
	})
	if err != nil {
		if KindOf(err) == KindInvalidClient {
			err = r.keyRefused(ctx, "endpoint.token", err, req.Remote, endpointTarget(req.ClientID))
		}
		return nil, err
	}
	if answer != nil {
		return nil, answer
	}
	return r.mint(is)
}

// pollPending records a poll of a code that waits for a decision and
// returns the answer: slow_down when the last such poll was less than the
// interval ago (less a little slack), authorization_pending otherwise. The
// last poll time is in the store, so it holds across brokers.
func (r *Registry) pollPending(tx Tx, now time.Time, dc *DeviceCode) (answer, err error) {
	gap := dc.Interval - dc.Interval/pollSlack
	err = tx.RecordDevicePoll(dc.Hash, now, now.Add(-gap))
	switch {
	case errors.Is(err, ErrConflict):
		secs := int64((dc.Interval + time.Second - 1) / time.Second)
		return E(KindRateLimited, fmt.Sprintf("polling too fast: wait at least %d s between requests", secs), err), nil
	case err != nil:
		return nil, internal("recording poll", err)
	}
	return E(KindPending, "the endpoint awaits an administrator's approval", nil), nil
}

// DeviceRefreshRequest is a refresh_token grant at the token endpoint.
type DeviceRefreshRequest struct {
	APIKey       string
	ClientID     string
	RefreshToken string
	Body         []byte
	Signature    []byte
	Remote       netip.Addr
}

// RefreshDevice rotates a device refresh token of the endpoint ClientID
// (SPEC T2). When the endpoint has a key, the request must be signed with
// it. Reusing a spent token revokes its chain. Errors: KindInvalidClient,
// KindInvalidGrant, KindAccessDenied.
func (r *Registry) RefreshDevice(ctx context.Context, req DeviceRefreshRequest) (*TokenPair, error) {
	if err := r.admitKey(ctx, "endpoint.refresh", req.APIKey, req.Remote, endpointTarget(req.ClientID)); err != nil {
		return nil, err
	}
	now := r.now()
	var jkt string
	err := r.store.View(ctx, func(tx Tx) error {
		ep, err := tx.GetEndpoint(req.ClientID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return internal("looking up endpoint", err)
		}
		target := ""
		if ep != nil {
			target = ep.AccountID
		}
		ku, err := r.checkKey(tx, now, req.APIKey, target, req.Remote)
		if err != nil {
			return err
		}
		if ep == nil {
			return E(KindInvalidGrant, "refresh token is invalid", nil)
		}
		if ep.KeyType != "" {
			pk, err := storedKey(ep.KeyType, ep.PublicKey)
			if err != nil {
				return err
			}
			if pk.Verify(req.Body, req.Signature) != nil {
				return ku.refuse("request signature missing or does not verify")
			}
		}
		jkt = ep.KeyThumbprint
		return nil
	})
	if err != nil {
		if KindOf(err) == KindInvalidClient {
			err = r.keyRefused(ctx, "endpoint.refresh", err, req.Remote, endpointTarget(req.ClientID))
		}
		return nil, err
	}
	return r.refresh(ctx, req.RefreshToken, jkt, SubjectEndpoint, req.ClientID, req.Remote)
}

// IntrospectRequest asks whether a token is active (RFC 7662, SPEC T4).
type IntrospectRequest struct {
	APIKey string // a key with FullAPIAccess (the permission to introspect)
	Token  string
	Remote netip.Addr
}

// Introspection describes an active token; the zero value (Active false)
// is the answer for every token that is not active now, whatever the
// reason, and for tokens outside the caller's account subtree.
type Introspection struct {
	Active    bool
	TokenUse  string // "device", "user" or "refresh"
	Subject   string
	Account   string
	ClientID  string // the endpoint the token belongs to or came through
	Issuer    string
	Audience  string
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time
	JKT       string // cnf.jkt of a bound token
}

// Introspect tells whether a token is active now (SPEC T4): an access
// token verifies, is not revoked, and its endpoint is trusted with the key
// it is bound to (or its user is enabled, and the endpoint it came through
// is trusted); a refresh token is unused, unrevoked and unexpired, with the
// same conditions on its subject. The caller authenticates with an API key
// that has full API access, which is what permits introspection; it sees
// only tokens of its key's account and the accounts below. Errors:
// KindInvalidClient (every refusal, including a key without full API
// access).
func (r *Registry) Introspect(ctx context.Context, req IntrospectRequest) (*Introspection, error) {
	if err := r.admitKey(ctx, "token.introspect", req.APIKey, req.Remote, ""); err != nil {
		return nil, err
	}
	now := r.now()
	out := &Introspection{}
	err := r.store.View(ctx, func(tx Tx) error {
		ku, err := r.checkKey(tx, now, req.APIKey, "", req.Remote)
		if err != nil {
			return err
		}
		if !ku.key.FullAPIAccess {
			return ku.refuse("key may not introspect (no full API access)")
		}
		in, err := r.introspect(tx, now, req.Token)
		if err != nil || !in.Active {
			return err
		}
		chain, err := ancestors(tx, in.Account)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return internal("walking account tree", err)
		}
		if slices.Contains(accountIDs(chain), ku.key.AccountID) {
			out = in
		}
		return nil
	})
	if err != nil {
		if KindOf(err) == KindInvalidClient {
			err = r.keyRefused(ctx, "token.introspect", err, req.Remote, "")
		}
		return nil, err
	}
	return out, nil
}

// introspect decides whether tok is active now, for any account.
func (r *Registry) introspect(tx Tx, now time.Time, tok string) (*Introspection, error) {
	inactive := &Introspection{}
	switch {
	case strings.HasPrefix(tok, refreshPrefix):
		rt, err := tx.GetRefreshToken(hashOpaque(tok))
		if errors.Is(err, ErrNotFound) {
			return inactive, nil
		}
		if err != nil {
			return nil, internal("looking up refresh token", err)
		}
		if !rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() || !now.Before(rt.ExpiresAt) {
			return inactive, nil
		}
		ok, err := subjectActive(tx, rt.SubjectType, rt.SubjectID, rt.EndpointID, "", false)
		if err != nil || !ok {
			return inactive, err
		}
		in := &Introspection{Active: true, TokenUse: "refresh", Subject: rt.SubjectID, Account: rt.AccountID,
			ClientID: rt.EndpointID, IssuedAt: rt.IssuedAt, ExpiresAt: rt.ExpiresAt}
		if rt.SubjectType == SubjectEndpoint {
			in.ClientID = rt.SubjectID
		}
		return in, nil
	case strings.Count(tok, ".") == 2:
		c, err := r.signer.Verify(tok)
		if err != nil {
			return inactive, nil
		}
		if err := tokenLive(tx, c); errors.Is(err, errTokenDead) {
			return inactive, nil
		} else if err != nil {
			return nil, err
		}
		subject := SubjectUser
		if c.Type == TokenDevice {
			subject = SubjectEndpoint
		} else if c.Type != TokenUser {
			return inactive, nil
		}
		ok, err := subjectActive(tx, subject, c.Subject, c.Endpoint, c.JKT, true)
		if err != nil || !ok {
			return inactive, err
		}
		in := &Introspection{Active: true, TokenUse: c.Type, Subject: c.Subject, Account: c.Account, ClientID: c.Endpoint,
			Issuer: c.Issuer, Audience: c.Audience, JTI: c.ID, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, JKT: c.JKT}
		if subject == SubjectEndpoint {
			in.ClientID = c.Subject
		}
		return in, nil
	}
	return inactive, nil
}

// subjectActive reports whether a token's subject may use it now: a
// trusted endpoint (with the key jkt when checkKey), or an enabled user
// whose endpoint, if the token came through one, is trusted.
func subjectActive(tx Tx, subjectType, subjectID, endpointID, jkt string, checkKey bool) (bool, error) {
	switch subjectType {
	case SubjectEndpoint:
		ep, err := trustedEndpoint(tx, subjectID)
		if KindOf(err) == KindAccessDenied {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return !checkKey || ep.KeyThumbprint == jkt, nil
	case SubjectUser:
		u, err := tx.GetUser(subjectID)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, internal("looking up user", err)
		}
		if u.Disabled {
			return false, nil
		}
		if err := accountLive(tx, u.AccountID); errors.Is(err, errAccountDisabled) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if endpointID != "" {
			return subjectActive(tx, SubjectEndpoint, endpointID, "", "", false)
		}
		return true, nil
	}
	return false, nil
}

// RevokeRequest revokes a token (RFC 7009) on behalf of the endpoint ClientID.
type RevokeRequest struct {
	APIKey   string
	ClientID string
	Token    string
	Remote   netip.Addr
}

// Revoke revokes a token the endpoint ClientID holds: its device tokens and
// the user tokens of logins through it. A refresh token is revoked with its
// whole chain; an access token is recorded as revoked until it expires
// (introspection answers inactive at once). As RFC 7009 asks, an unknown,
// invalid or expired token is no error; neither is a token of another
// client, which is left alone (so its owner learns nothing). Errors:
// KindInvalidClient.
func (r *Registry) Revoke(ctx context.Context, req RevokeRequest) error {
	if err := r.admitKey(ctx, "token.revoke", req.APIKey, req.Remote, endpointTarget(req.ClientID)); err != nil {
		return err
	}
	now := r.now()
	err := r.store.Update(ctx, func(tx Tx) error {
		ep, err := tx.GetEndpoint(req.ClientID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return internal("looking up endpoint", err)
		}
		target := ""
		if ep != nil {
			target = ep.AccountID
		}
		if _, err := r.checkKey(tx, now, req.APIKey, target, req.Remote); err != nil {
			return err
		}
		if ep == nil {
			return nil
		}
		revoked := func(what string) error {
			return audit(tx, now, "endpoint:"+ep.ID, "token.revoke", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, req.Remote,
				map[string]string{"token": what})
		}
		switch {
		case strings.HasPrefix(req.Token, refreshPrefix):
			rt, err := tx.GetRefreshToken(hashOpaque(req.Token))
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return internal("looking up refresh token", err)
			}
			mine := (rt.SubjectType == SubjectEndpoint && rt.SubjectID == ep.ID) || rt.EndpointID == ep.ID
			if !mine || !rt.RevokedAt.IsZero() {
				return nil
			}
			if err := tx.RevokeRefreshChain(rt.ChainID, now); err != nil {
				return internal("revoking chain", err)
			}
			return revoked("refresh")
		case strings.Count(req.Token, ".") == 2:
			c, err := r.signer.Verify(req.Token)
			if err != nil {
				return nil // invalid or expired: nothing left to revoke
			}
			mine := (c.Type == TokenDevice && c.Subject == ep.ID) || (c.Type == TokenUser && c.Endpoint == ep.ID)
			if !mine {
				return nil
			}
			if err := tx.RevokeAccessToken(c.ID, c.ExpiresAt); err != nil {
				return internal("revoking access token", err)
			}
			return revoked(c.Type)
		}
		return nil
	})
	if err != nil && KindOf(err) == KindInvalidClient {
		err = r.keyRefused(ctx, "token.revoke", err, req.Remote, endpointTarget(req.ClientID))
	}
	return err
}

// AccessTokenRevoked reports whether the access token with this jti was
// revoked through Revoke. Verifiers of access tokens that must see a
// revocation at once (introspection does) call it.
func (r *Registry) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		revoked, err = tx.AccessTokenRevoked(jti)
		return err
	})
	if err != nil {
		return false, internal("looking up revocation", err)
	}
	return revoked, nil
}
