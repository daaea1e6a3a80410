package httpapi

import (
	"net/http"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

var accountTypes = map[string]registry.AccountType{
	"": "", string(registry.AccountVendor): registry.AccountVendor, string(registry.AccountCustomer): registry.AccountCustomer,
}

// maxSeconds bounds the durations of settings (a century).
const maxSeconds = 100 * 365 * 24 * 3600

func (a *API) createAccount(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.CreateAccountRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	typ, ok := accountTypes[req.Type]
	if !ok {
		a.writeError(w, r, invalid("unknown account type %q (vendor, customer)", req.Type))
		return
	}
	cr := registry.CreateAccountRequest{
		ParentID: req.ParentID, Name: req.Name, Type: typ,
		TrustAllEndpoints: req.TrustAllEndpoints, DenyUserCreation: req.DenyUserCreation, Remote: remote(r),
	}
	if req.Settings != nil {
		st, err := settingsIn(req.Settings)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		cr.Settings = st
	}
	acct, err := a.reg.CreateAccount(r.Context(), p, cr)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.accountsOut(r, p, *acct)[0])
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	accts, err := a.reg.ListAccounts(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.accountsOut(r, p, accts...))
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	acct, err := a.reg.GetAccount(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.accountsOut(r, p, *acct)[0])
}

func (a *API) updateAccount(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.UpdateAccountRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u := registry.AccountUpdate{
		Name: req.Name, Disabled: req.Disabled, TrustAllEndpoints: req.TrustAllEndpoints,
		DenyUserCreation: req.DenyUserCreation, Remote: remote(r),
	}
	if req.Settings != nil {
		st, err := settingsIn(req.Settings)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		u.Settings = &st
	}
	acct, err := a.reg.UpdateAccount(r.Context(), p, r.PathValue("id"), u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.accountsOut(r, p, *acct)[0])
}

func settingsIn(s *api.AccountSettings) (registry.AccountSettings, error) {
	for name, v := range map[string]int64{
		"device_token_ttl_seconds": s.DeviceTokenTTLSeconds, "user_token_ttl_seconds": s.UserTokenTTLSeconds,
		"refresh_ttl_seconds": s.RefreshTTLSeconds, "stale_after_seconds": s.StaleAfterSeconds,
		"key_quota": int64(s.KeyQuota), "endpoint_quota": int64(s.EndpointQuota),
	} {
		if v < 0 || v > maxSeconds {
			return registry.AccountSettings{}, invalid("settings.%s must be between 0 (default or no limit) and %d", name, maxSeconds)
		}
	}
	for name, v := range map[string]int{"pending_per_key_value": s.PendingPerKeyValue, "pending_per_account": s.PendingPerAccount} {
		if v < 0 || v > registry.MaxPendingCap {
			return registry.AccountSettings{}, invalid("settings.%s must be between 0 (the default) and %d", name, registry.MaxPendingCap)
		}
	}
	sec := func(n int64) time.Duration { return time.Duration(n) * time.Second }
	return registry.AccountSettings{
		DeviceTokenTTL: sec(s.DeviceTokenTTLSeconds), UserTokenTTL: sec(s.UserTokenTTLSeconds),
		RefreshTTL: sec(s.RefreshTTLSeconds), KeyQuota: s.KeyQuota, EndpointQuota: s.EndpointQuota,
		StaleAfter: sec(s.StaleAfterSeconds), DeleteStale: s.DeleteStale,
		RequireEndpointKeys: s.RequireEndpointKeys, RequireDPoP: s.RequireDPoP,
		LockOutClones:      s.LockOutClones,
		PendingPerKeyValue: s.PendingPerKeyValue, PendingPerAccount: s.PendingPerAccount,
	}, nil
}

// accountsOut converts accounts for the API, with their parents' names.
func (a *API) accountsOut(r *http.Request, p *registry.Principal, accts ...registry.Account) []api.Account {
	var q registry.NameQuery
	for _, ac := range accts {
		q.Accounts = append(q.Accounts, ac.ParentID)
	}
	n := a.names(r, p, q)
	out := make([]api.Account, 0, len(accts))
	for i := range accts {
		out = append(out, accountOut(&accts[i], n))
	}
	return out
}

func accountOut(ac *registry.Account, n *registry.Names) api.Account {
	s := ac.Settings
	return api.Account{
		ID: ac.ID, Name: ac.Name, ParentID: ac.ParentID, ParentName: n.Account(ac.ParentID),
		Type: string(ac.Type), Disabled: ac.Disabled,
		TrustAllEndpoints: ac.TrustAllEndpoints, DenyUserCreation: ac.DenyUserCreation,
		Settings: api.AccountSettings{
			DeviceTokenTTLSeconds: int64(s.DeviceTokenTTL / time.Second), UserTokenTTLSeconds: int64(s.UserTokenTTL / time.Second),
			RefreshTTLSeconds: int64(s.RefreshTTL / time.Second), KeyQuota: s.KeyQuota, EndpointQuota: s.EndpointQuota,
			StaleAfterSeconds: int64(s.StaleAfter / time.Second), DeleteStale: s.DeleteStale,
			PendingPerKeyValue: s.PendingPerKeyValue, PendingPerAccount: s.PendingPerAccount,
			RequireEndpointKeys: s.RequireEndpointKeys, RequireDPoP: s.RequireDPoP,
			LockOutClones: s.LockOutClones,
		},
		CreatedAt: ac.CreatedAt.UTC(), UpdatedAt: ac.UpdatedAt.UTC(),
	}
}
