package registry

import "context"

// ListAudit lists audit events of the accounts where the caller holds
// ViewAuditLog (f.AccountIDs narrows them further), oldest first.
func (r *Registry) ListAudit(ctx context.Context, p *Principal, f AuditFilter) ([]AuditEvent, error) {
	return nil, errNotImplemented
}
