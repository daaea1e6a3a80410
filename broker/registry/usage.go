package registry

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// usageResolution is how fresh a value's "last used" and an endpoint's
// "last seen" are kept: a use within this time of the recorded one, from the
// same address, writes nothing. A busy device's logins and calls would
// otherwise rewrite the same two rows on every request.
const usageResolution = time.Minute

// fresh reports whether a use at now from `from` adds nothing to one
// recorded at `last` from `lastFrom`.
func fresh(last time.Time, lastFrom string, now time.Time, from string) bool {
	return !last.IsZero() && lastFrom == from && now.Sub(last) >= 0 && now.Sub(last) < usageResolution
}

// recordUse records a key value's use by a call (it consumes no use, K8).
func recordUse(tx Tx, now time.Time, ku *keyUse, remote netip.Addr) error {
	from := addrString(remote)
	if fresh(ku.value.LastUsedAt, ku.value.LastUsedFrom, now, from) {
		return nil
	}
	if err := tx.RecordKeyUse(ku.value.ID, now, from, false); err != nil {
		return internal("recording key use", err)
	}
	ku.value.LastUsedAt, ku.value.LastUsedFrom = now, from
	return nil
}

// seen records that an endpoint was seen now from remote.
func seen(tx Tx, now time.Time, ep *Endpoint, remote netip.Addr) error {
	from := addrString(remote)
	if fresh(ep.LastSeenAt, ep.LastSeenFrom, now, from) {
		return nil
	}
	if err := tx.TouchEndpoint(ep.ID, now, from); err != nil && !errors.Is(err, ErrNotFound) {
		return internal("touching endpoint", err)
	}
	ep.LastSeenAt, ep.LastSeenFrom = now, from
	return nil
}

// Seen records that an endpoint was seen now from remote.
func (r *Registry) Seen(ctx context.Context, endpointID string, remote netip.Addr) error {
	now := r.now()
	return r.store.Update(ctx, func(tx Tx) error {
		if err := tx.TouchEndpoint(endpointID, now, addrString(remote)); err != nil && !errors.Is(err, ErrNotFound) {
			return internal("touching endpoint", err)
		}
		return nil
	})
}
