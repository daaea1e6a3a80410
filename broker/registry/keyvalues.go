package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/apikey"
	"github.com/edgetrust/edgetrust/protocol"
)

// AddValueRequest adds a value to a key (SPEC K2). A zero ExpiresAt never
// expires; UseLimit 0 is unlimited.
type AddValueRequest struct {
	Description string
	UseLimit    int64
	ExpiresAt   time.Time
	Remote      netip.Addr
}

// CreatedValue is a value shown once (SPEC K3).
type CreatedValue struct {
	KeyID   string
	ValueID string
	Value   string
}

// valueOf returns the value valueID of key k; one of another key answers
// KindNotFound.
func valueOf(tx Tx, k *APIKey, valueID string) (*KeyValue, error) {
	v, err := tx.GetKeyValue(valueID)
	if errors.Is(err, ErrNotFound) || (err == nil && v.KeyID != k.ID) {
		return nil, E(KindNotFound, "this key has no value "+valueID, err)
	}
	if err != nil {
		return nil, internal("looking up key value", err)
	}
	return v, nil
}

// newValue generates a value for key k and stores it.
func newValue(tx Tx, now time.Time, k *APIKey, req AddValueRequest, edgeDevice string) (*CreatedValue, *KeyValue, error) {
	value, publicID, err := apikey.Generate()
	if err != nil {
		return nil, nil, internal("generating key", err)
	}
	v := &KeyValue{ID: newID(), KeyID: k.ID, PublicID: publicID, SecretHash: apikey.Hash(value),
		Description: req.Description, CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC(), UseLimit: req.UseLimit, EdgeDevice: edgeDevice}
	if req.ExpiresAt.IsZero() {
		v.ExpiresAt = time.Time{}
	}
	if err := tx.CreateKeyValue(v); err != nil {
		return nil, nil, internal("creating key value", err)
	}
	return &CreatedValue{KeyID: k.ID, ValueID: v.ID, Value: value}, v, nil
}

func checkValueRequest(now time.Time, req AddValueRequest) error {
	if req.UseLimit < 0 {
		return E(KindInvalid, "the use limit must be 0 (unlimited) or more", nil)
	}
	if len(req.Description) > 1024 {
		return E(KindInvalid, "a value description is at most 1024 bytes", nil)
	}
	return checkExpiry(now, req.ExpiresAt)
}

// AddKeyValue generates a new value for a key (ModifyApiKey, SPEC K2).
// Errors: KindInvalid, KindNotFound, KindPermission.
func (r *Registry) AddKeyValue(ctx context.Context, p *Principal, keyID string, req AddValueRequest) (*CreatedValue, error) {
	now := r.now()
	if err := checkValueRequest(now, req); err != nil {
		return nil, err
	}
	var out *CreatedValue
	var k *APIKey
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		if k, err = keyFor(tx, p, PermModifyAPIKey, keyID); err != nil {
			return err
		}
		if err := mayHandOut(tx, p, k); err != nil {
			return err
		}
		var v *KeyValue
		if out, v, err = newValue(tx, now, k, req, ""); err != nil {
			return err
		}
		return audit(tx, now, p.Actor(), "apikey.value.add", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, req.Remote,
			map[string]string{"value_id": v.ID, "key_public_id": v.PublicID, "use_limit": fmt.Sprint(v.UseLimit), "expires_at": formatTime(v.ExpiresAt)})
	})
	if err != nil {
		r.auditDenied(ctx, p, "apikey.value.add", "apikey:"+keyID, req.Remote, err)
		return nil, err
	}
	r.publish(Event{Type: protocol.EventAPIKeyUpdated, AccountID: k.AccountID, At: now})
	return out, nil
}

// RegenerateKeyValue replaces a value's secret under the same key id and
// value id (SPEC K4); the old value stops working at once (it gets a new
// public id as well, so nothing cached under the old one matches). Its
// settings and usage history stay. valueID "" is allowed only for a key
// with one unrevoked value; otherwise KindInvalid naming the values. A
// revoked value cannot be regenerated (KindConflict). Regenerating a
// predefined key's value (SPEC K6) is how it becomes usable.
func (r *Registry) RegenerateKeyValue(ctx context.Context, p *Principal, keyID, valueID string, remote netip.Addr) (*CreatedValue, error) {
	now := r.now()
	var out *CreatedValue
	var k *APIKey
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		if k, err = keyFor(tx, p, PermModifyAPIKey, keyID); err != nil {
			return err
		}
		if err := mayHandOut(tx, p, k); err != nil {
			return err
		}
		var v *KeyValue
		if valueID == "" {
			vals, err := tx.ListKeyValues(k.ID)
			if err != nil {
				return internal("listing key values", err)
			}
			var live []string
			for i := range vals {
				if vals[i].RevokedAt.IsZero() {
					live = append(live, vals[i].ID)
					v = &vals[i]
				}
			}
			switch len(live) {
			case 0:
				return E(KindConflict, "this key has no unrevoked value; add one", nil)
			case 1:
			default:
				return E(KindInvalid, "this key has several values; name the one to regenerate: "+strings.Join(live, ", "), nil)
			}
		} else if v, err = valueOf(tx, k, valueID); err != nil {
			return err
		}
		if !v.RevokedAt.IsZero() {
			return E(KindConflict, "this value is revoked; add a new value instead", nil)
		}
		value, publicID, err := apikey.Generate()
		if err != nil {
			return internal("generating key", err)
		}
		oldPublic := v.PublicID
		v.PublicID, v.SecretHash = publicID, apikey.Hash(value)
		if err := tx.UpdateKeyValue(v); err != nil {
			return internal("updating key value", err)
		}
		out = &CreatedValue{KeyID: k.ID, ValueID: v.ID, Value: value}
		return audit(tx, now, p.Actor(), "apikey.value.regenerate", k.AccountID, "apikey:"+k.ID, OutcomeSuccess, remote,
			map[string]string{"value_id": v.ID, "old_key_public_id": oldPublic, "key_public_id": publicID})
	})
	if err != nil {
		r.auditDenied(ctx, p, "apikey.value.regenerate", "apikey:"+keyID, remote, err)
		return nil, err
	}
	r.publish(Event{Type: protocol.EventAPIKeyUpdated, AccountID: k.AccountID, At: now})
	return out, nil
}

// RevokeKeyValue revokes one value (ModifyApiKey). Revoking twice is a
// no-op. Endpoints that registered with it stay trusted (SPEC K12).
// Errors: KindNotFound, KindPermission.
func (r *Registry) RevokeKeyValue(ctx context.Context, p *Principal, keyID, valueID string, remote netip.Addr) error {
	now := r.now()
	var k *APIKey
	var changed bool
	err := r.store.Update(ctx, func(tx Tx) error {
		var err error
		if k, err = keyFor(tx, p, PermModifyAPIKey, keyID); err != nil {
			return err
		}
		v, err := valueOf(tx, k, valueID)
		if err != nil {
			return err
		}
		changed, err = revokeValue(tx, now, p.Actor(), "apikey.value.revoke", k, v, remote)
		return err
	})
	if err != nil {
		return err
	}
	if changed {
		r.publish(Event{Type: protocol.EventAPIKeyUpdated, AccountID: k.AccountID, At: now})
	}
	return nil
}

// revokeValue revokes v unless it already is, and audits it as action.
func revokeValue(tx Tx, now time.Time, actor, action string, k *APIKey, v *KeyValue, remote netip.Addr) (bool, error) {
	if !v.RevokedAt.IsZero() {
		return false, nil
	}
	v.RevokedAt = now
	if err := tx.UpdateKeyValue(v); err != nil {
		return false, internal("revoking key value", err)
	}
	detail := map[string]string{"value_id": v.ID, "key_public_id": v.PublicID}
	if v.EdgeDevice != "" {
		detail["edge_device"] = v.EdgeDevice
	}
	return true, audit(tx, now, actor, action, k.AccountID, "apikey:"+k.ID, OutcomeSuccess, remote, detail)
}
