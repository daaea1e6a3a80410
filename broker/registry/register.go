package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/google/uuid"
)

// Key types of endpoint public keys.
const KeyTypeEd25519 = "ed25519"

// RegisterRequest is a registration (SPEC E1).
type RegisterRequest struct {
	APIKey      string
	AccountID   string // target account; "" = the key's own
	ClientID    string // UUID chosen by the device
	ClientType  string
	Description string
	Hostname    string
	OS          string
	Version     string
	KeyType     string // "ed25519", "rsa", "x509" (pubkey.go); "" = none
	PublicKey   []byte
	// Proven reports that the transport verified the caller holds the
	// private key of PublicKey (QUIC Hello, or an HTTP request signature).
	Proven bool
	// DeferTokens: issue no tokens even when trusted and proven; the
	// transport hands them out later (HTTP: for the device code).
	DeferTokens bool
	Remote      netip.Addr
}

// RegisterResult is the outcome of Register.
type RegisterResult struct {
	Endpoint Endpoint
	// Tokens is set when the endpoint is trusted and the registration was proven.
	Tokens *TokenPair
	// Created reports a new endpoint (a use of the key value was consumed).
	Created bool
	// KeyChange reports that the registration presented another public key
	// than the endpoint's (or, for an endpoint without a key, no key): it is
	// now a pending key change (E4), and Endpoint.State says pending, as the
	// registrant's key sees it.
	KeyChange bool

	// changeThumb is the fingerprint of that key change: the new key's
	// thumbprint, or a keyless re-registration's marker.
	changeThumb string

	// tokens are the Tokens issued in the transaction, minted into Tokens
	// once it has committed.
	tokens *issued
}

const maxTextField = 256

func validateRegister(req *RegisterRequest) error {
	id, err := uuid.Parse(req.ClientID)
	if err != nil || id.String() != req.ClientID {
		return E(KindInvalid, "client_id must be a lowercase canonical UUID", err)
	}
	if !protocol.ValidClientType(req.ClientType) {
		return E(KindInvalid, fmt.Sprintf("unknown client type %q", req.ClientType), nil)
	}
	for name, v := range map[string]string{"description": req.Description, "hostname": req.Hostname, "os": req.OS, "version": req.Version} {
		if len(v) > maxTextField {
			return E(KindInvalid, fmt.Sprintf("%s is longer than %d bytes", name, maxTextField), nil)
		}
	}
	return nil
}

// prepareKey checks the request's public key and stores it in its stored
// form (pubkey.go); it returns the key's thumbprint, "" for none.
func prepareKey(req *RegisterRequest) (string, error) {
	if req.KeyType == "" {
		if len(req.PublicKey) != 0 || req.Proven {
			return "", E(KindInvalid, "public_key without key_type", nil)
		}
		return "", nil
	}
	pk, err := ParsePublicKey(req.KeyType, req.PublicKey)
	if err != nil {
		return "", err
	}
	req.PublicKey = pk.Raw
	return pk.Thumbprint, nil
}

// Register registers a new endpoint or re-registers a known one (SPEC E1,
// E2, E4, E9). The API key is checked on every call (K8, K12). A new
// endpoint consumes one use of the key value; a re-registration with the same
// public key never does. Errors: KindInvalid (also: a registration without
// a key where the account requires keys; audited), KindInvalidClient (every
// key refusal), KindConflict (the client id is registered in another
// account, or a key change of it is pending already; audited).
func (r *Registry) Register(ctx context.Context, req RegisterRequest) (*RegisterResult, error) {
	res, err := r.register(ctx, req)
	r.obs.Registration(registerOutcome(res, err))
	return res, err
}

func (r *Registry) register(ctx context.Context, req RegisterRequest) (*RegisterResult, error) {
	if err := validateRegister(&req); err != nil {
		return nil, err
	}
	if err := r.Fresh(); err != nil {
		return nil, err
	}
	thumb, err := prepareKey(&req)
	if err != nil {
		return nil, err
	}
	if err := r.admitKey(ctx, "endpoint.register", req.APIKey, req.Remote, endpointTarget(req.ClientID)); err != nil {
		return nil, err
	}
	now := r.now()
	var res RegisterResult
	var events []Event
	err = r.store.Update(ctx, func(tx Tx) error {
		res, events = RegisterResult{}, nil
		return r.registerTx(memoAccounts(tx), now, &req, thumb, &res, &events)
	})
	if err != nil {
		switch KindOf(err) {
		case KindInvalidClient:
			err = r.keyRefused(ctx, "endpoint.register", err, req.Remote, endpointTarget(req.ClientID))
		case KindQuota:
			r.auditQuota(ctx, "endpoint.register", endpointTarget(req.ClientID), req.Remote, err)
		default:
			r.auditRegisterRefusal(ctx, err, req.Remote)
		}
		return nil, err
	}
	if res.Tokens, err = r.mint(res.tokens); err != nil {
		return nil, err
	}
	res.tokens = nil
	for _, ev := range events {
		r.publish(ev)
	}
	return &res, nil
}

// registerTx is Register inside tx, for a request that passed
// validateRegister and prepareKey; thumb is its key's thumbprint.
func (r *Registry) registerTx(tx Tx, now time.Time, req *RegisterRequest, thumb string, res *RegisterResult, events *[]Event) error {
	ep, err := tx.GetEndpoint(req.ClientID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return internal("looking up endpoint", err)
	}
	target := req.AccountID
	if ep != nil && target == "" {
		target = ep.AccountID
	}
	ku, err := r.checkKey(tx, now, req.APIKey, target, req.Remote)
	if err != nil {
		return err
	}
	if thumb == "" && ku.target.Settings.RequireEndpointKeys {
		return E(KindInvalid, "this account requires endpoint keys: register with public_key and key_type",
			&refusedAttempt{actor: "key:" + ku.key.ID, account: ku.target.ID, target: endpointTarget(req.ClientID),
				detail: map[string]string{"reason": "account requires endpoint keys", "key_id": ku.key.ID}})
	}
	if ep == nil {
		return r.registerNew(tx, now, req, ku, thumb, res, events)
	}
	return r.reRegister(tx, now, req, ku, ep, thumb, res)
}

func (r *Registry) registerNew(tx Tx, now time.Time, req *RegisterRequest, ku *keyUse, thumb string, res *RegisterResult, events *[]Event) error {
	if q := ku.target.Settings.EndpointQuota; q > 0 {
		n, err := tx.CountEndpoints(ku.target.ID)
		if err != nil {
			return internal("counting endpoints", err)
		}
		if n >= q {
			return quotaError(ku.target, q, "endpoints", "key:"+ku.key.ID)
		}
	}
	if err := tx.RecordKeyUse(ku.value.ID, now, addrString(req.Remote), true); err != nil {
		if errors.Is(err, ErrLimitReached) {
			return ku.refuse("use limit reached")
		}
		return internal("recording key use", err)
	}
	ep := &Endpoint{
		ID: req.ClientID, AccountID: ku.target.ID, State: StatePending, Type: req.ClientType,
		Description: req.Description, Hostname: req.Hostname, OS: req.OS, Version: req.Version,
		KeyType: req.KeyType, PublicKey: req.PublicKey, KeyThumbprint: thumb,
		KeyID: ku.key.ID, KeyValueID: ku.value.ID,
		RegisteredAt: now, RegisteredFrom: addrString(req.Remote),
		LastSeenAt: now, LastSeenFrom: addrString(req.Remote), UpdatedAt: now,
	}
	actor := "key:" + ku.key.ID
	if ku.key.AutoTrust || ku.target.TrustAllEndpoints {
		ep.State = StateTrusted
		ep.ApprovedAt, ep.ApprovedBy = now, actor
		ep.LastDecision, ep.LastDecisionBy, ep.LastDecisionAt = string(ActionApprove), actor, now
	} else {
		if err := checkPendingCaps(tx, ku); err != nil {
			return err
		}
		ep.DeviceCodeExpiresAt = now.Add(r.pendingTTL)
	}
	if err := tx.CreateEndpoint(ep); err != nil {
		if errors.Is(err, ErrConflict) {
			return E(KindConflict, "endpoint registered concurrently; retry", err)
		}
		return internal("creating endpoint", err)
	}
	detail := map[string]string{"key_id": ku.key.ID, "type": ep.Type, "state": string(ep.State)}
	if err := audit(tx, now, actor, "endpoint.register", ep.AccountID, endpointTarget(ep.ID), OutcomeSuccess, req.Remote, detail); err != nil {
		return err
	}
	*events = append(*events, Event{Type: protocol.EndpointEvent(string(ep.State)), EndpointID: ep.ID, AccountID: ep.AccountID, State: ep.State, At: now})
	res.Endpoint, res.Created = *ep, true
	if ep.State == StateTrusted && req.Proven && !req.DeferTokens {
		is, err := r.issueDevice(tx, now, ep, ku.target)
		if err != nil {
			return err
		}
		res.tokens = is
	}
	return nil
}

// checkPendingCaps refuses a new pending registration past the caps of
// the pending queue (SPEC R8): per key value and per target account. It
// counts in the registration's own transaction, which the store serialises
// with every other write, so concurrent registrations cannot pass a cap
// together. The error (KindQuota) names the cap and the setting.
func checkPendingCaps(tx Tx, ku *keyUse) error {
	s := ku.target.Settings
	perValue := cmpOr(s.PendingPerKeyValue, DefaultPendingPerKeyValue)
	n, err := tx.CountPendingByKeyValue(ku.value.ID)
	if err != nil {
		return internal("counting pending endpoints", err)
	}
	if n >= perValue {
		return E(KindQuota, fmt.Sprintf("%d registrations made with this key value await a decision, its cap (setting pending_per_key_value of account %q): approve or reject them, or raise the cap", perValue, ku.target.Name),
			&quotaExceeded{account: ku.target.ID, actor: "key:" + ku.key.ID})
	}
	perAccount := cmpOr(s.PendingPerAccount, DefaultPendingPerAccount)
	if n, err = tx.CountPendingByAccount(ku.target.ID); err != nil {
		return internal("counting pending endpoints", err)
	}
	if n >= perAccount {
		return E(KindQuota, fmt.Sprintf("%d registrations in account %q await a decision, its cap (setting pending_per_account): approve or reject them, or raise the cap", perAccount, ku.target.Name),
			&quotaExceeded{account: ku.target.ID, actor: "key:" + ku.key.ID})
	}
	return nil
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// reRegister handles a registration for a known client id (SPEC E4, E9).
// Another public key than the endpoint's becomes a pending key change; the
// same key re-registers, and only a proven registration updates the
// endpoint of a keyed endpoint (an unproven one could come from anyone who
// holds the API key and knows the public key). An endpoint without a key
// can prove nothing: a registration without a key for it is a key change
// too, never a new device code or tokens without an admin's decision
// (issue 10).
func (r *Registry) reRegister(tx Tx, now time.Time, req *RegisterRequest, ku *keyUse, ep *Endpoint, thumb string, res *RegisterResult) error {
	if ep.AccountID != ku.target.ID {
		return E(KindConflict, "this client id is registered in another account", nil)
	}
	if ep.KeyThumbprint != thumb || thumb == "" {
		return r.requestKeyChange(tx, now, req, ku, ep, thumb, res)
	}
	if err := tx.RecordKeyUse(ku.value.ID, now, addrString(req.Remote), false); err != nil {
		return internal("recording key use", err)
	}
	if ep.KeyThumbprint != "" && !req.Proven {
		res.Endpoint = *ep
		return nil
	}
	ep.KeyType, ep.PublicKey = req.KeyType, req.PublicKey // the same key; an X.509 certificate may be a renewed one
	ep.Description, ep.Hostname, ep.OS, ep.Version = req.Description, req.Hostname, req.OS, req.Version
	ep.LastSeenAt, ep.LastSeenFrom, ep.UpdatedAt = now, addrString(req.Remote), now
	if ep.State == StatePending {
		ep.DeviceCodeExpiresAt = now.Add(r.pendingTTL)
	}
	if err := tx.UpdateEndpoint(ep); err != nil {
		return internal("updating endpoint", err)
	}
	res.Endpoint = *ep
	if ep.State == StateTrusted && req.Proven && !req.DeferTokens {
		is, err := r.issueDevice(tx, now, ep, ku.target)
		if err != nil {
			return err
		}
		res.tokens = is
	}
	if ep.State == StateTrusted && req.Proven {
		return audit(tx, now, "endpoint:"+ep.ID, "endpoint.reregister", ep.AccountID, endpointTarget(ep.ID), OutcomeSuccess, req.Remote, nil)
	}
	return nil
}

// endpointTarget is how the audit names an endpoint as a target, in every
// action (issue 12; rows before it named a registration by the bare id, and
// AuditFilter.Endpoint finds both). No id names nothing: "".
func endpointTarget(id string) string {
	if id == "" {
		return ""
	}
	return "endpoint:" + id
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}
