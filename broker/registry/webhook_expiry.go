package registry

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Expiry warnings (SPEC E7, issue 16): a week before an active key or a
// live value expires, the sweep writes one audit row
// "apikey.expiry_warning", which the change feed turns into the event
// apikey.expiring — for webhooks and live watchers alike — while there is
// still time to rotate. Each key or value is warned once per expiry time
// (Meta expiryWarnedKey): a new expiry warns again.

// ExpiryWarningBefore is how long before an expiry the warning comes.
const ExpiryWarningBefore = 7 * 24 * time.Hour

// expiryScanEvery bounds how often the sweep reads every key for it.
const expiryScanEvery = time.Hour

// expiryWarnedKey is the Meta key remembering the expiry a key or value
// (by id) was warned of.
func expiryWarnedKey(id string) string { return "expiry.warned." + id }

// expiring is one key or value to warn about.
type expiring struct {
	key       APIKey
	valueID   string // "" = the key itself
	expiresAt time.Time
}

// warnExpiring writes the expiry warnings due at now and returns how many.
// It reads the keys at most once per expiryScanEvery.
func (r *Registry) warnExpiring(ctx context.Context, now time.Time) (int, error) {
	if last := r.expiryScan.Load(); last != 0 && now.Sub(time.Unix(0, last)) < expiryScanEvery {
		return 0, nil
	}
	r.expiryScan.Store(now.UnixNano())
	due := func(t time.Time) bool {
		return !t.IsZero() && now.Before(t) && !now.Before(t.Add(-ExpiryWarningBefore))
	}
	warned := func(tx Tx, id string, at time.Time) (bool, error) {
		v, err := tx.GetMeta(expiryWarnedKey(id))
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return v == at.UTC().Format(time.RFC3339Nano), err
	}
	var todo []expiring
	err := r.store.View(ctx, func(tx Tx) error {
		keys, err := tx.ListAPIKeys("")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !k.Active {
				continue
			}
			if due(k.ExpiresAt) {
				if ok, err := warned(tx, k.ID, k.ExpiresAt); err != nil {
					return err
				} else if !ok {
					todo = append(todo, expiring{key: k, expiresAt: k.ExpiresAt})
				}
			}
			vals, err := tx.ListKeyValues(k.ID)
			if err != nil {
				return err
			}
			for _, v := range vals {
				if !v.RevokedAt.IsZero() || !due(v.ExpiresAt) {
					continue
				}
				if ok, err := warned(tx, v.ID, v.ExpiresAt); err != nil {
					return err
				} else if !ok {
					todo = append(todo, expiring{key: k, valueID: v.ID, expiresAt: v.ExpiresAt})
				}
			}
		}
		return nil
	})
	if err != nil || len(todo) == 0 {
		return 0, internalOrNil("finding keys about to expire", err)
	}
	n := 0
	err = r.store.Update(ctx, func(tx Tx) error {
		n = 0
		for _, e := range todo {
			id := e.key.ID
			if e.valueID != "" {
				id = e.valueID
			}
			if ok, err := warned(tx, id, e.expiresAt); err != nil || ok {
				if err != nil {
					return err
				}
				continue
			}
			at := e.expiresAt.UTC().Format(time.RFC3339Nano)
			if err := tx.SetMeta(expiryWarnedKey(id), at); err != nil {
				return err
			}
			detail := map[string]string{"expires_at": e.expiresAt.UTC().Format(time.RFC3339), "name": e.key.Name}
			if e.valueID != "" {
				detail["value_id"] = e.valueID
			}
			if err := audit(tx, now, "system", "apikey.expiry_warning", e.key.AccountID, "apikey:"+e.key.ID, OutcomeSuccess, netip.Addr{}, detail); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, internal("writing expiry warnings", err)
	}
	return n, nil
}

func internalOrNil(what string, err error) error {
	if err == nil {
		return nil
	}
	return internal(what, err)
}
