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

// CreateAPIKey creates a key and its first value. Errors: KindInvalid,
// KindNotFound, KindPermission.
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

// Decide applies an admin action to one endpoint, takes effect at once and
// pushes it to a connected agent. Approving a trusted endpoint is a no-op;
// any other transition not allowed answers KindConflict. Untrusting revokes
// the endpoint's refresh tokens and those of users who logged in through
// it. Errors: KindInvalid, KindNotFound, KindPermission, KindConflict.
func (r *Registry) Decide(ctx context.Context, p *Principal, endpointID string, action Action, remote netip.Addr) (*Endpoint, error) {
	tr, ok := transitions[action]
	if !ok {
		return nil, E(KindInvalid, fmt.Sprintf("unknown action %q", action), nil)
	}
	now := r.now()
	var ep *Endpoint
	var changed bool
	err := r.store.Update(ctx, func(tx Tx) error {
		changed = false
		var err error
		ep, err = endpointFor(tx, p, PermModifyEndpoint, endpointID)
		if err != nil {
			return err
		}
		if action == ActionApprove && ep.State == StateTrusted {
			return nil
		}
		err = tx.TransitionEndpoint(ep.ID, tr.from, tr.to, p.Actor(), now)
		if errors.Is(err, ErrConflict) {
			return E(KindConflict, fmt.Sprintf("cannot %s an endpoint that is %s", action, ep.State), err)
		}
		if err != nil {
			return internal("changing endpoint state", err)
		}
		if tr.to == StateUntrusted {
			if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
				return internal("revoking tokens", err)
			}
		}
		from := ep.State
		ep.State, ep.DecidedBy, ep.DecidedAt, ep.UpdatedAt = tr.to, p.Actor(), now, now
		changed = true
		return audit(tx, now, p.Actor(), "endpoint."+string(action), ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote,
			map[string]string{"from": string(from), "to": string(tr.to)})
	})
	if err != nil {
		return nil, err
	}
	if changed {
		r.bus.Publish(Event{Type: "endpoint." + string(ep.State), EndpointID: ep.ID, AccountID: ep.AccountID, State: ep.State, At: now})
	}
	return ep, nil
}

// DeleteEndpoint deletes an endpoint in any state, revokes its tokens and
// tells a connected agent (E4a). Errors: KindNotFound, KindPermission.
func (r *Registry) DeleteEndpoint(ctx context.Context, p *Principal, endpointID string, remote netip.Addr) error {
	now := r.now()
	var ep *Endpoint
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		ep, err = endpointFor(tx, p, PermDeleteEndpoint, endpointID)
		if err != nil {
			return err
		}
		if err := tx.RevokeRefreshTokensOf(SubjectEndpoint, ep.ID, now); err != nil {
			return internal("revoking tokens", err)
		}
		if err := tx.DeleteEndpoint(ep.ID); err != nil {
			return internal("deleting endpoint", err)
		}
		return audit(tx, now, p.Actor(), "endpoint.delete", ep.AccountID, "endpoint:"+ep.ID, OutcomeSuccess, remote,
			map[string]string{"state": string(ep.State)})
	})
	if err != nil {
		return err
	}
	r.bus.Publish(Event{Type: "endpoint.deleted", EndpointID: ep.ID, AccountID: ep.AccountID, State: StateDeleted, At: now})
	return nil
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
