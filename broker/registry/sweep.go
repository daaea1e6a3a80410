package registry

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// refreshPurgeAfter is how long an expired refresh token is kept: while it
// is kept, presenting a spent one still revokes its chain (T2).
const refreshPurgeAfter = 30 * 24 * time.Hour

// SweepResult tells what one Sweep removed.
type SweepResult struct {
	// StaleDeleted counts endpoints deleted because their account deletes
	// endpoints not seen for its stale time (SPEC E8).
	StaleDeleted int
	// PendingExpired counts pending endpoints purged because their device
	// code expired (SPEC E3, E8).
	PendingExpired int
	// RefreshPurged counts refresh tokens deleted 30 days after they expired.
	RefreshPurged int
	// DPoPPurged counts DPoP proofs forgotten once their nonce expired.
	DPoPPurged int
	// WebhookDeliveriesPurged counts delivery log entries (delivered or
	// failed) dropped 30 days after they were queued.
	WebhookDeliveriesPurged int
	// ExpiryWarnings counts the keys and values warned of as about to
	// expire (apikey.expiry_warning, webhook_expiry.go).
	ExpiryWarnings int
}

// webhookLogKeep is how long a finished delivery stays in its webhook's log.
const webhookLogKeep = 30 * 24 * time.Hour

// IsStale reports whether ep, an endpoint of acct, counts as stale at now
// (SPEC E8): its account sets a stale time and the endpoint was last seen
// (or, never seen, registered) longer ago than that. It is derived, never
// stored; lists show it beside each endpoint.
func IsStale(ep *Endpoint, acct *Account, now time.Time) bool {
	if ep == nil || acct == nil || acct.Settings.StaleAfter <= 0 {
		return false
	}
	seen := ep.LastSeenAt
	if seen.IsZero() {
		seen = ep.RegisteredAt
	}
	return seen.Before(now.Add(-acct.Settings.StaleAfter))
}

func pendingExpired(ep *Endpoint, now time.Time) bool {
	return ep.State == StatePending && !ep.DeviceCodeExpiresAt.IsZero() && !now.Before(ep.DeviceCodeExpiresAt)
}

// Sweep does the broker's periodic clean-up (SPEC E8): it deletes the
// stale endpoints of accounts that delete them (audited
// "endpoint.stale_delete"), purges pending endpoints whose device code
// expired ("endpoint.expire"), deletes refresh tokens long expired and
// webhook deliveries long finished, warns of keys about to expire, and
// writes the counts of folded key refusals whose window closed.
// Deleted endpoints are revoked and pushed like an admin's delete. Each
// chunk of endpoints is one transaction; an error stops the sweep, and
// what was committed before it stays.
func (r *Registry) Sweep(ctx context.Context) (SweepResult, error) {
	now := r.now()
	var res SweepResult
	var accounts []Account
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		accounts, err = tx.ListAccounts()
		return err
	})
	if err != nil {
		return res, internal("listing accounts", err)
	}
	for i := range accounts {
		a := &accounts[i]
		if !a.Settings.DeleteStale || a.Settings.StaleAfter <= 0 {
			continue
		}
		n, err := r.sweepEndpoints(ctx, now, EndpointFilter{AccountIDs: []string{a.ID}, SeenBefore: now.Add(-a.Settings.StaleAfter)},
			"endpoint.stale_delete", func(tx Tx, ep *Endpoint) (bool, error) {
				acct, err := tx.GetAccount(ep.AccountID) // its settings may have changed since
				if err != nil {
					return false, internal("looking up account", err)
				}
				return acct.Settings.DeleteStale && IsStale(ep, acct, now), nil
			})
		res.StaleDeleted += n
		if err != nil {
			return res, err
		}
	}
	n, err := r.sweepEndpoints(ctx, now, EndpointFilter{State: StatePending}, "endpoint.expire",
		func(_ Tx, ep *Endpoint) (bool, error) { return pendingExpired(ep, now), nil })
	res.PendingExpired = n
	if err != nil {
		return res, err
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		var err error
		if res.RefreshPurged, err = tx.PurgeRefreshTokens(now.Add(-refreshPurgeAfter)); err != nil {
			return err
		}
		if res.DPoPPurged, err = tx.PurgeDPoPProofs(now); err != nil {
			return err
		}
		res.WebhookDeliveriesPurged, err = tx.PurgeWebhookDeliveries(now.Add(-webhookLogKeep))
		return err
	})
	if err != nil {
		return res, internal("purging refresh tokens", err)
	}
	if res.ExpiryWarnings, err = r.warnExpiring(ctx, now); err != nil {
		return res, err
	}
	return res, r.flushClosedRefusals(ctx, now)
}

// sweepEndpoints deletes, as the system, the endpoints matching f for which
// keep still holds inside the deleting transaction, in chunks.
func (r *Registry) sweepEndpoints(ctx context.Context, now time.Time, f EndpointFilter, action string, match func(Tx, *Endpoint) (bool, error)) (int, error) {
	var ids []string
	err := r.store.View(ctx, func(tx Tx) error {
		eps, err := tx.ListEndpoints(f)
		if err != nil {
			return internal("listing endpoints", err)
		}
		for i := range eps {
			ok, err := match(tx, &eps[i])
			if err != nil {
				return err
			}
			if ok {
				ids = append(ids, eps[i].ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	deleted := 0
	for chunk := range slices.Chunk(ids, bulkChunk) {
		var events []Event
		err := r.store.Update(ctx, func(tx Tx) error {
			events = nil
			eps, err := tx.ListEndpoints(EndpointFilter{IDs: chunk})
			if err != nil {
				return internal("listing endpoints", err)
			}
			for i := range eps {
				// Checked again: the endpoint may have been seen or decided since.
				if ok, err := match(tx, &eps[i]); err != nil || !ok {
					if err != nil {
						return err
					}
					continue
				}
				ev, err := applyAction(tx, now, "system", &eps[i], ActionDelete, action, netip.Addr{})
				if err != nil {
					return err
				}
				events = append(events, *ev)
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
		deleted += len(events)
		for _, ev := range events {
			r.publish(ev)
		}
	}
	return deleted, nil
}
