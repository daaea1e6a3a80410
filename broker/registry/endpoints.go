package registry

import "context"

// GetEndpoint returns one endpoint the caller holds ViewEndpoint at. An
// endpoint of an account the caller cannot see answers KindNotFound, as an
// unknown id does; one of an account it sees without ViewEndpoint answers
// KindPermission. Errors: KindUnauthenticated (p is nil), KindNotFound,
// KindPermission.
func (r *Registry) GetEndpoint(ctx context.Context, p *Principal, id string) (*Endpoint, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	var out *Endpoint
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = endpointFor(tx, p, PermViewEndpoint, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
