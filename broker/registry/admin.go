package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/apikey"
)

// CreateAPIKeyRequest creates a key with one value. Zero AccountID = the
// caller's own account.
type CreateAPIKeyRequest struct {
	AccountID               string
	Name                    string
	Description             string
	Group                   string
	Type                    KeyType // "" = general
	Inactive                bool
	AutoTrust               bool
	AllowUntrustedEndpoints bool
	AllowUnauthenticated    bool
	FullAPIAccess           bool
	ExpiresAt               time.Time
	AllowedIPs              []netip.Prefix
	Remote                  netip.Addr
}

// CreatedKey is a new key with the one time its value is shown (SPEC K3).
type CreatedKey struct {
	Key     APIKey
	ValueID string
	Value   string
}

// maxKeyExpiry bounds expiries: stores keep times as int64 nanoseconds,
// which end in 2262.
var maxKeyExpiry = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// normalizePrefixes masks each prefix and stores IPv4-mapped IPv6 prefixes
// as IPv4: callers' addresses are unmapped before the check (ipAllowed), so
// a ::ffff:a.b.c.d/n prefix would otherwise never match.
func normalizePrefixes(in []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

var keyTypes = map[KeyType]bool{KeyGeneral: true, KeyEmbedded: true, KeyChrome: true, KeyEdge: true}

// checkKeyQuota refuses a new key past the account's key quota (SPEC K9).
// The predefined keys of SPEC K6 come with the account and do not count.
func checkKeyQuota(tx Tx, accountID, actor string) error {
	a, err := tx.GetAccount(accountID)
	if err != nil {
		return internal("looking up account", err)
	}
	q := a.Settings.KeyQuota
	if q <= 0 {
		return nil
	}
	keys, err := tx.ListAPIKeys(accountID)
	if err != nil {
		return internal("listing keys", err)
	}
	n := 0
	for _, k := range keys {
		if !k.Predefined {
			n++
		}
	}
	if n >= q {
		return quotaError(a, q, "API keys", actor)
	}
	return nil
}

// CreateAPIKey creates a key and its first value. Errors: KindInvalid,
// KindNotFound, KindPermission, KindQuota (SPEC K9).
func (r *Registry) CreateAPIKey(ctx context.Context, p *Principal, req CreateAPIKeyRequest) (*CreatedKey, error) {
	if req.Type == "" {
		req.Type = KeyGeneral
	}
	if !keyTypes[req.Type] {
		return nil, E(KindInvalid, fmt.Sprintf("unknown key type %q (general, embedded, chrome, edge)", req.Type), nil)
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > maxTextField || len(req.Description) > 1024 {
		return nil, E(KindInvalid, "a key needs a name of at most 256 bytes", nil)
	}
	if req.AccountID == "" && p != nil {
		req.AccountID = p.AccountID
	}
	now := r.now()
	if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return nil, E(KindInvalid, "expiry is in the past", nil)
	}
	if !req.ExpiresAt.Before(maxKeyExpiry) {
		return nil, E(KindInvalid, "the expiry must be before "+maxKeyExpiry.Format(time.RFC3339)+"; give none for a key that never expires", nil)
	}
	req.AllowedIPs = normalizePrefixes(req.AllowedIPs)
	value, publicID, err := apikey.Generate()
	if err != nil {
		return nil, internal("generating key", err)
	}
	var out *CreatedKey
	err = r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAPIKey, req.AccountID); err != nil {
			return err
		}
		if err := checkKeyQuota(tx, req.AccountID, p.Actor()); err != nil {
			return err
		}
		k := &APIKey{
			ID: newID(), AccountID: req.AccountID, Type: req.Type, Name: req.Name,
			Description: req.Description, Group: req.Group, Active: !req.Inactive,
			AllowUnauthenticated: req.AllowUnauthenticated, AllowUntrustedEndpoints: req.AllowUntrustedEndpoints,
			AutoTrust: req.AutoTrust, FullAPIAccess: req.FullAPIAccess, ExpiresAt: req.ExpiresAt.UTC(),
			AllowedIPs: req.AllowedIPs, CreatedBy: p.Actor(), CreatedAt: now, UpdatedAt: now,
		}
		if req.ExpiresAt.IsZero() {
			k.ExpiresAt = time.Time{}
		}
		if err := tx.CreateAPIKey(k); err != nil {
			return internal("creating key", err)
		}
		v := &KeyValue{ID: newID(), KeyID: k.ID, PublicID: publicID, SecretHash: apikey.Hash(value), Description: "initial value", CreatedAt: now}
		if err := tx.CreateKeyValue(v); err != nil {
			return internal("creating key value", err)
		}
		out = &CreatedKey{Key: *k, ValueID: v.ID, Value: value}
		return audit(tx, now, p.Actor(), "apikey.create", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, req.Remote,
			map[string]string{"name": k.Name, "type": string(k.Type), "auto_trust": fmt.Sprint(k.AutoTrust),
				"allow_untrusted_endpoints": fmt.Sprint(k.AllowUntrustedEndpoints), "allow_unauthenticated": fmt.Sprint(k.AllowUnauthenticated)})
	})
	if err != nil {
		r.auditQuota(ctx, "apikey.create", "", req.Remote, err)
		return nil, err
	}
	r.bus.Publish(Event{Type: "apikey.created", AccountID: out.Key.AccountID, At: now})
	return out, nil
}

// ListAPIKeys lists the keys of an account ("" = the caller's own). Errors:
// KindNotFound, KindPermission.
func (r *Registry) ListAPIKeys(ctx context.Context, p *Principal, accountID string) ([]APIKey, error) {
	if accountID == "" && p != nil {
		accountID = p.AccountID
	}
	var keys []APIKey
	err := r.store.View(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermViewAPIKey, accountID); err != nil {
			return err
		}
		var err error
		keys, err = tx.ListAPIKeys(accountID)
		return err
	})
	return keys, err
}

// ListEndpoints lists endpoints matching f among the accounts where the
// caller holds ViewEndpoint (f.AccountIDs narrows them further).
func (r *Registry) ListEndpoints(ctx context.Context, p *Principal, f EndpointFilter) ([]Endpoint, error) {
	var eps []Endpoint
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		if len(f.AccountIDs) > 0 {
			for _, id := range f.AccountIDs {
				if err := authorize(tx, p, PermViewEndpoint, id); err != nil {
					return err
				}
			}
		} else {
			visible, err := visibleAccounts(tx, p, PermViewEndpoint)
			if err != nil {
				return err
			}
			for _, a := range visible {
				f.AccountIDs = append(f.AccountIDs, a.ID)
			}
		}
		if len(f.AccountIDs) == 0 {
			return nil // sees no account: nothing (a nil filter would mean all)
		}
		var err error
		eps, err = tx.ListEndpoints(f)
		if err != nil {
			return internal("listing endpoints", err)
		}
		return nil
	})
	return eps, err
}

// Action is an admin decision on an endpoint (SPEC E5).
type Action string

// Actions.
const (
	ActionApprove Action = "approve"
	ActionReject  Action = "reject"
	ActionUntrust Action = "untrust"
)

var transitions = map[Action]struct {
	from []State
	to   State
}{
	ActionApprove: {[]State{StatePending, StateRejected, StateUntrusted}, StateTrusted},
	ActionReject:  {[]State{StatePending}, StateRejected},
	ActionUntrust: {[]State{StateTrusted}, StateUntrusted},
}

// checkAction validates an action and returns the permission it needs.
func checkAction(action Action) (Permission, error) {
	if action == ActionDelete {
		return PermDeleteEndpoint, nil
	}
	if _, ok := transitions[action]; !ok {
		return "", E(KindInvalid, fmt.Sprintf("unknown action %q (approve, reject, untrust, delete)", action), nil)
	}
	return PermModifyEndpoint, nil
}

// applyAction applies action to ep, which the caller may act on, in tx:
// the state change (or deletion), the token revocations it implies and its
// audit row, recorded as auditAction ("" = "endpoint.<action>"). It
// updates ep in place and returns the event to publish after the commit,
// or nil for a no-op (approving a trusted endpoint). A transition not
// allowed answers KindConflict. Decide, DeleteEndpoint, DecideMany and
// Sweep all go through it.
func applyAction(tx Tx, now time.Time, actor string, ep *Endpoint, action Action, auditAction string, remote netip.Addr) (*Event, error) {
	if auditAction == "" {
		auditAction = "endpoint." + string(action)
	}
	if action == ActionDelete {
		if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
			return nil, internal("revoking tokens", err)
		}
		if err := tx.DeleteEndpoint(ep.ID); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, E(KindNotFound, "not found", err)
			}
			return nil, internal("deleting endpoint", err)
		}
		if err := audit(tx, now, actor, auditAction, ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote,
			map[string]string{"state": string(ep.State)}); err != nil {
			return nil, err
		}
		ep.State = StateDeleted
		return &Event{Type: "endpoint.deleted", EndpointID: ep.ID, AccountID: ep.AccountID, State: StateDeleted, At: now}, nil
	}
	tr, ok := transitions[action]
	if !ok {
		return nil, E(KindInvalid, fmt.Sprintf("unknown action %q", action), nil)
	}
	if action == ActionApprove && ep.State == StateTrusted {
		return nil, nil
	}
	err := tx.TransitionEndpoint(ep.ID, tr.from, tr.to, actor, now)
	if errors.Is(err, ErrConflict) {
		return nil, E(KindConflict, fmt.Sprintf("cannot %s an endpoint that is %s", action, ep.State), err)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, E(KindNotFound, "not found", err)
	}
	if err != nil {
		return nil, internal("changing endpoint state", err)
	}
	if tr.to == StateUntrusted {
		if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
			return nil, internal("revoking tokens", err)
		}
	}
	from := ep.State
	ep.State, ep.DecidedBy, ep.DecidedAt, ep.UpdatedAt = tr.to, actor, now, now
	if err := audit(tx, now, actor, auditAction, ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote,
		map[string]string{"from": string(from), "to": string(tr.to)}); err != nil {
		return nil, err
	}
	return &Event{Type: "endpoint." + string(ep.State), EndpointID: ep.ID, AccountID: ep.AccountID, State: ep.State, At: now}, nil
}

// Decide applies an admin action to one endpoint, takes effect at once and
// pushes it to a connected agent. Approving a trusted endpoint is a no-op;
// any other transition not allowed answers KindConflict. Untrusting revokes
// the endpoint's refresh tokens and those of users who logged in through
// it; ActionDelete deletes it (as DeleteEndpoint, and the result's State is
// StateDeleted). Errors: KindInvalid, KindNotFound, KindPermission,
// KindConflict.
func (r *Registry) Decide(ctx context.Context, p *Principal, endpointID string, action Action, remote netip.Addr) (*Endpoint, error) {
	perm, err := checkAction(action)
	if err != nil {
		return nil, err
	}
	now := r.now()
	var ep *Endpoint
	var ev *Event
	err = r.store.Update(ctx, func(tx Tx) error {
		var err error
		ep, err = endpointFor(tx, p, perm, endpointID)
		if err != nil {
			return err
		}
		ev, err = applyAction(tx, now, p.Actor(), ep, action, "", remote)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ev != nil {
		r.bus.Publish(*ev)
	}
	return ep, nil
}

// DeleteEndpoint deletes an endpoint in any state, revokes its tokens and
// tells a connected agent (E4a). Errors: KindNotFound, KindPermission.
func (r *Registry) DeleteEndpoint(ctx context.Context, p *Principal, endpointID string, remote netip.Addr) error {
	_, err := r.Decide(ctx, p, endpointID, ActionDelete, remote)
	return err
}

// ListAccounts lists the accounts where the caller holds ViewAccount.
func (r *Registry) ListAccounts(ctx context.Context, p *Principal) ([]Account, error) {
	var out []Account
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		var err error
		out, err = visibleAccounts(tx, p, PermViewAccount)
		return err
	})
	return out, err
}
