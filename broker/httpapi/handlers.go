package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// signIn is an administrator's password sign-in (SPEC S3b): no API key.
func (a *API) signIn(w http.ResponseWriter, r *http.Request) {
	var req api.SignInRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	tp, u, err := a.reg.SignIn(r.Context(), registry.SignInRequest{
		Username: req.Username, Password: req.Password, AccountID: req.AccountID, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := tokenResponse(tp)
	out.User = &api.User{ID: u.ID, Username: u.Username, AccountID: u.AccountID}
	writeJSON(w, http.StatusOK, out)
}

// refresh rotates a user refresh token.
func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	var req api.RefreshRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		a.writeError(w, r, invalid("refresh_token is required"))
		return
	}
	tp, err := a.reg.RefreshUser(r.Context(), req.RefreshToken)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse(tp))
}

func tokenResponse(tp *registry.TokenPair) api.TokenResponse {
	return api.TokenResponse{
		AccessToken: tp.AccessToken, TokenType: tp.TokenType,
		ExpiresIn:        int64(tp.ExpiresIn / time.Second),
		RefreshToken:     tp.RefreshToken,
		RefreshExpiresIn: int64(tp.RefreshExpiresIn / time.Second),
	}
}

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
	writeJSON(w, http.StatusCreated, api.CreatedKey{Key: keyOut(&ck.Key), Value: ck.Value, ValueID: ck.ValueID})
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

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	keys, err := a.reg.ListAPIKeys(r.Context(), p, r.URL.Query().Get("account_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.Key, 0, len(keys))
	for i := range keys {
		out = append(out, keyOut(&keys[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

var listStates = map[string]registry.State{
	api.StatePending: registry.StatePending, api.StateTrusted: registry.StateTrusted,
	api.StateRejected: registry.StateRejected, api.StateUntrusted: registry.StateUntrusted,
}

// listEndpoints lists the endpoints matching the filters of endpointFilter.
func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	f, err := endpointFilter(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	eps, err := a.reg.ListEndpoints(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.Endpoint, 0, len(eps))
	for i := range eps {
		out = append(out, endpointOut(&eps[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	ep, err := a.reg.GetEndpoint(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointOut(ep))
}

func (a *API) decide(action registry.Action) principalHandler {
	return func(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
		ep, err := a.reg.Decide(r.Context(), p, r.PathValue("id"), action, remote(r))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, endpointOut(ep))
	}
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteEndpoint(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	accts, err := a.reg.ListAccounts(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.Account, 0, len(accts))
	for i := range accts {
		out = append(out, accountOut(&accts[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// keyOut converts a key for the API; it never carries a value.
func keyOut(k *registry.APIKey) api.Key {
	ips := make([]string, 0, len(k.AllowedIPs))
	for _, p := range k.AllowedIPs {
		if p.IsSingleIP() {
			ips = append(ips, p.Addr().String())
		} else {
			ips = append(ips, p.String())
		}
	}
	return api.Key{
		ID: k.ID, Name: k.Name, Type: string(k.Type), AccountID: k.AccountID,
		Description: k.Description, Group: k.Group, Active: k.Active,
		AutoTrust: k.AutoTrust, AllowUntrustedEndpoints: k.AllowUntrustedEndpoints,
		AllowUnauthenticated: k.AllowUnauthenticated, FullAPIAccess: k.FullAPIAccess,
		ExpiresAt: timePtr(k.ExpiresAt), AllowedIPs: ips, CreatedBy: k.CreatedBy,
		RunAsUserID: k.RunAsUserID, RunAsRoleID: k.RunAsRoleID, Predefined: k.Predefined,
		CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
	}
}

func endpointOut(e *registry.Endpoint) api.Endpoint {
	return api.Endpoint{
		ID: e.ID, ClientID: e.ID, State: string(e.State), Type: e.Type, Description: e.Description,
		Hostname: e.Hostname, OS: e.OS, Version: e.Version, AccountID: e.AccountID,
		KeyID: e.KeyID, KeyValueID: e.KeyValueID,
		RegisteredAt: timePtr(e.RegisteredAt), RegisteredFrom: e.RegisteredFrom,
		ApprovedBy: e.DecidedBy, ApprovedAt: timePtr(e.DecidedAt),
		DecidedBy: e.DecidedBy, DecidedAt: timePtr(e.DecidedAt),
		LastSeenAt: timePtr(e.LastSeenAt), LastSeenFrom: e.LastSeenFrom,
		KeyType: e.KeyType, KeyFingerprint: e.KeyThumbprint, KeyThumbprint: e.KeyThumbprint, Bound: len(e.PublicKey) > 0,
	}
}

// timePtr returns nil for the zero time, so it is null in JSON.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
