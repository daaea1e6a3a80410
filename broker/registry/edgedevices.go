package registry

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgetrust/edgetrust/protocol"
)

// edgeKey returns the predefined Edge key of an account (SPEC K7).
func edgeKey(tx Tx, accountID string) (*APIKey, error) {
	keys, err := tx.ListAPIKeys(accountID)
	if err != nil {
		return nil, internal("listing keys", err)
	}
	for i := range keys {
		if keys[i].Predefined && keys[i].Type == KeyEdge {
			return &keys[i], nil
		}
	}
	return nil, E(KindInvalid, "this account has no predefined Edge key (customer accounts have one)", nil)
}

// AddEdgeDevice adds a value to the account's predefined Edge key for the
// named edge device (SPEC K7); accountID "" = the caller's own. The value
// is the device's own credential. Errors: KindInvalid, KindNotFound,
// KindPermission, KindConflict (a device of that name exists).
func (r *Registry) AddEdgeDevice(ctx context.Context, p *Principal, accountID, name, description string, remote netip.Addr) (*CreatedValue, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	name, err := cleanName("an edge device name", name)
	if err != nil {
		return nil, err
	}
	if len(description) > 1024 {
		return nil, E(KindInvalid, "a description is at most 1024 bytes", nil)
	}
	if accountID == "" {
		accountID = p.AccountID
	}
	now := r.now()
	var out *CreatedValue
	err = r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAPIKey, accountID); err != nil {
			return err
		}
		k, err := edgeKey(tx, accountID)
		if err != nil {
			return err
		}
		if err := mayHandOut(tx, p, k); err != nil {
			return err
		}
		vals, err := tx.ListKeyValues(k.ID)
		if err != nil {
			return internal("listing key values", err)
		}
		for _, v := range vals {
			if v.RevokedAt.IsZero() && strings.EqualFold(v.EdgeDevice, name) {
				return E(KindConflict, fmt.Sprintf("an edge device named %q exists; remove it first", name), nil)
			}
		}
		var v *KeyValue
		if out, v, err = newValue(tx, now, k, AddValueRequest{Description: description}, name); err != nil {
			return err
		}
		return audit(tx, now, p.Actor(), "edge.add", accountID, "apikey:"+k.ID, OutcomeSuccess, remote,
			map[string]string{"value_id": v.ID, "key_public_id": v.PublicID, "edge_device": name})
	})
	if err != nil {
		r.auditDenied(ctx, p, "edge.add", "account:"+accountID, remote, err)
		return nil, err
	}
	r.publish(Event{Type: protocol.EventAPIKeyUpdated, AccountID: accountID, At: now})
	return out, nil
}

// RemoveEdgeDevice revokes the edge device's value (SPEC K7); accountID ""
// = the caller's own. Removing a removed device is a no-op. Errors:
// KindInvalid, KindNotFound, KindPermission.
func (r *Registry) RemoveEdgeDevice(ctx context.Context, p *Principal, accountID, valueID string, remote netip.Addr) error {
	if p == nil {
		return E(KindUnauthenticated, "sign in first", nil)
	}
	if accountID == "" {
		accountID = p.AccountID
	}
	now := r.now()
	var changed bool
	err := r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAPIKey, accountID); err != nil {
			return err
		}
		k, err := edgeKey(tx, accountID)
		if err != nil {
			return err
		}
		v, err := valueOf(tx, k, valueID)
		if err != nil {
			return err
		}
		if v.EdgeDevice == "" {
			return E(KindNotFound, "no edge device has value "+valueID, nil)
		}
		changed, err = revokeValue(tx, now, p.Actor(), "edge.remove", k, v, remote)
		return err
	})
	if err != nil {
		return err
	}
	if changed {
		r.publish(Event{Type: protocol.EventAPIKeyUpdated, AccountID: accountID, At: now})
	}
	return nil
}
