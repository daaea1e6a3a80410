package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

func (a *API) createKey(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.CreateKeyRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	ips, err := parseAllowedIPs(req.AllowedIPs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	cr := registry.CreateAPIKeyRequest{
		AccountID: req.AccountID, Name: req.Name, Description: req.Description, Group: req.Group,
		Type: registry.KeyType(req.Type), Inactive: req.Active != nil && !*req.Active,
		AutoTrust: req.AutoTrust, AllowUntrustedEndpoints: req.AllowUntrustedEndpoints,
		AllowUnauthenticated: req.AllowUnauthenticated, FullAPIAccess: req.FullAPIAccess,
		AllowedIPs: ips, Remote: remote(r),
	}
	if req.ExpiresAt != nil {
		if req.ExpiresAt.IsZero() {
			a.writeError(w, r, invalid("expires_at must be a time in the future, or null for a key that never expires"))
			return
		}
		cr.ExpiresAt = *req.ExpiresAt
	}
	ck, err := a.reg.CreateAPIKey(r.Context(), p, cr)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.CreatedKey{Key: keyOut(&ck.Key, a.keyNames(r, p, ck.Key)), Value: ck.Value, ValueID: ck.ValueID})
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	keys, err := a.reg.ListAPIKeys(r.Context(), p, r.URL.Query().Get("account_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	n := a.keyNames(r, p, keys...)
	out := make([]api.Key, 0, len(keys))
	for i := range keys {
		out = append(out, keyOut(&keys[i], n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getKey(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	k, err := a.reg.GetAPIKey(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keyDetailOut(k, a.keyNames(r, p, k.Key)))
}

func (a *API) updateKey(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.UpdateKeyRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u := registry.APIKeyUpdate{
		Name: req.Name, Description: req.Description, Group: req.Group, Active: req.Active,
		AutoTrust: req.AutoTrust, AllowUntrustedEndpoints: req.AllowUntrustedEndpoints,
		AllowUnauthenticated: req.AllowUnauthenticated, FullAPIAccess: req.FullAPIAccess,
		RunAsUserID: req.RunAsUserID, RunAsRoleID: req.RunAsRoleID, Remote: remote(r),
	}
	switch {
	case req.NoExpiry && req.ExpiresAt != nil:
		a.writeError(w, r, invalid("give either expires_at or no_expiry, not both"))
		return
	case req.NoExpiry:
		never := time.Time{}
		u.ExpiresAt = &never
	case req.ExpiresAt != nil:
		if req.ExpiresAt.IsZero() {
			a.writeError(w, r, invalid("expires_at must be a time in the future; send no_expiry to remove the expiry"))
			return
		}
		u.ExpiresAt = req.ExpiresAt
	}
	if req.AllowedIPs != nil {
		ips, err := parseAllowedIPs(*req.AllowedIPs)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if ips == nil {
			ips = []netip.Prefix{}
		}
		u.AllowedIPs = &ips
	}
	k, err := a.reg.UpdateAPIKey(r.Context(), p, r.PathValue("id"), u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keyDetailOut(k, a.keyNames(r, p, k.Key)))
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteAPIKey(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseAllowedIPs accepts CIDR prefixes and plain addresses (a one-address
// prefix), IPv4 and IPv6.
func parseAllowedIPs(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range in {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p) // the registry masks and unmaps
			continue
		}
		ad, err := netip.ParseAddr(s)
		if err != nil || ad.Zone() != "" {
			return nil, invalid("allowed_ips[%d] %q is not an IP address or CIDR prefix", i, s)
		}
		ad = ad.Unmap()
		out = append(out, netip.PrefixFrom(ad, ad.BitLen()))
	}
	return out, nil
}

// keyNames resolves the names shown beside a key's ids: its account, its
// run-as user and role, and its creator.
func (a *API) keyNames(r *http.Request, p *registry.Principal, keys ...registry.APIKey) *registry.Names {
	var q registry.NameQuery
	for _, k := range keys {
		q.Accounts = append(q.Accounts, k.AccountID)
		q.ActorIDs(k.CreatedBy, "user:"+k.RunAsUserID)
		q.Roles = append(q.Roles, k.RunAsRoleID)
	}
	return a.names(r, p, q)
}

// keyOut converts a key for the API; it never carries a value.
func keyOut(k *registry.APIKey, n *registry.Names) api.Key {
	ips := make([]string, 0, len(k.AllowedIPs))
	for _, p := range k.AllowedIPs {
		if p.IsSingleIP() {
			ips = append(ips, p.Addr().String())
		} else {
			ips = append(ips, p.String())
		}
	}
	return api.Key{
		ID: k.ID, Name: k.Name, Type: string(k.Type), AccountID: k.AccountID, AccountName: n.Account(k.AccountID),
		Description: k.Description, Group: k.Group, Active: k.Active,
		AutoTrust: k.AutoTrust, AllowUntrustedEndpoints: k.AllowUntrustedEndpoints,
		AllowUnauthenticated: k.AllowUnauthenticated, FullAPIAccess: k.FullAPIAccess,
		ExpiresAt: timePtr(k.ExpiresAt), AllowedIPs: ips, CreatedBy: k.CreatedBy,
		CreatedByName: n.Actor(k.CreatedBy), RunAsUserID: k.RunAsUserID, RunAsUserName: n.User(k.RunAsUserID),
		RunAsRoleID: k.RunAsRoleID, RunAsRoleName: n.Role(k.RunAsRoleID), Predefined: k.Predefined,
		CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
	}
}

func keyDetailOut(k *registry.KeyWithValues, n *registry.Names) api.KeyDetail {
	out := api.KeyDetail{Key: keyOut(&k.Key, n), Values: make([]api.KeyValue, 0, len(k.Values))}
	for i := range k.Values {
		v := &k.Values[i]
		out.Values = append(out.Values, api.KeyValue{
			ID: v.ID, KeyID: v.KeyID, Description: v.Description, CreatedAt: v.CreatedAt.UTC(),
			ExpiresAt: timePtr(v.ExpiresAt), RevokedAt: timePtr(v.RevokedAt), Revoked: !v.RevokedAt.IsZero(),
			LastUsedAt: timePtr(v.LastUsedAt), LastUsedFrom: v.LastUsedFrom,
			UseCount: v.UseCount, UseLimit: v.UseLimit, EdgeDevice: v.EdgeDevice,
		})
	}
	return out
}
