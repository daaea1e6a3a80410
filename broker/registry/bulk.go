package registry

import (
	"context"
	"net/netip"
)

// ActionDelete deletes endpoints in bulk (SPEC E5).
const ActionDelete Action = "delete"

// BulkRequest applies one action to many endpoints: those named by IDs, or
// every endpoint matching Filter among the accounts where the caller may act
// (exactly one of the two must be given).
type BulkRequest struct {
	Action Action
	IDs    []string
	Filter *EndpointFilter
	Remote netip.Addr
}

// Bulk outcomes, per endpoint.
const (
	BulkOK       = "ok"
	BulkNoop     = "noop"
	BulkConflict = "conflict"
	BulkNotFound = "not_found"
)

// BulkResult is the outcome for one endpoint. State is its state after the
// action (StateDeleted when deleted).
type BulkResult struct {
	ID      string
	Outcome string
	State   State
	Error   string
}

// DecideMany applies an action to many endpoints and reports per id. Each
// change is committed with its audit row and pushed like a single Decide.
// Errors (for the whole call): KindInvalid, KindUnauthenticated.
func (r *Registry) DecideMany(ctx context.Context, p *Principal, req BulkRequest) ([]BulkResult, error) {
	return nil, errNotImplemented
}
