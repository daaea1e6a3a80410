package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// This file holds the routes of accounts, users, roles, key values, edge
// devices, bulk endpoint actions and the audit log (SPEC §1-3, issue 3).
// Every route leaves the permission check to the registry: a resource of an
// account the caller cannot see answers 404, one it sees without the
// permission 403.

// Audit list bounds: an answer holds at most maxAuditLimit events; a caller
// pages with after_id.
const (
	defaultAuditLimit = 1000
	maxAuditLimit     = 5000
)

// --- accounts ---

var accountTypes = map[string]registry.AccountType{
	"": "", string(registry.AccountVendor): registry.AccountVendor, string(registry.AccountCustomer): registry.AccountCustomer,
}

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
	writeJSON(w, http.StatusCreated, accountOut(acct))
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	acct, err := a.reg.GetAccount(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, accountOut(acct))
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
	writeJSON(w, http.StatusOK, accountOut(acct))
}

// maxSeconds bounds the durations of settings (a century).
const maxSeconds = 100 * 365 * 24 * 3600

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
	sec := func(n int64) time.Duration { return time.Duration(n) * time.Second }
	return registry.AccountSettings{
		DeviceTokenTTL: sec(s.DeviceTokenTTLSeconds), UserTokenTTL: sec(s.UserTokenTTLSeconds),
		RefreshTTL: sec(s.RefreshTTLSeconds), KeyQuota: s.KeyQuota, EndpointQuota: s.EndpointQuota,
		StaleAfter: sec(s.StaleAfterSeconds), DeleteStale: s.DeleteStale,
		RequireEndpointKeys: s.RequireEndpointKeys, RequireDPoP: s.RequireDPoP,
	}, nil
}

func accountOut(ac *registry.Account) api.Account {
	s := ac.Settings
	return api.Account{
		ID: ac.ID, Name: ac.Name, ParentID: ac.ParentID, Type: string(ac.Type), Disabled: ac.Disabled,
		TrustAllEndpoints: ac.TrustAllEndpoints, DenyUserCreation: ac.DenyUserCreation,
		Settings: api.AccountSettings{
			DeviceTokenTTLSeconds: int64(s.DeviceTokenTTL / time.Second), UserTokenTTLSeconds: int64(s.UserTokenTTL / time.Second),
			RefreshTTLSeconds: int64(s.RefreshTTL / time.Second), KeyQuota: s.KeyQuota, EndpointQuota: s.EndpointQuota,
			StaleAfterSeconds: int64(s.StaleAfter / time.Second), DeleteStale: s.DeleteStale,
			RequireEndpointKeys: s.RequireEndpointKeys, RequireDPoP: s.RequireDPoP,
		},
		CreatedAt: ac.CreatedAt.UTC(), UpdatedAt: ac.UpdatedAt.UTC(),
	}
}

// --- users ---

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.CreateUserRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.reg.CreateUser(r.Context(), p, registry.CreateUserRequest{
		AccountID: req.AccountID, Username: req.Username, Domain: req.Domain, UPN: req.UPN, Email: req.Email,
		Password: req.Password, CardID: req.CardID, ShortID: req.ShortID, Roles: req.Roles, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, userOut(u))
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	users, err := a.reg.ListUsers(r.Context(), p, r.URL.Query().Get("account_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.UserDetail, 0, len(users))
	for i := range users {
		out = append(out, userOut(&users[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	u, err := a.reg.GetUser(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userOut(u))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.UpdateUserRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.reg.UpdateUser(r.Context(), p, r.PathValue("id"), registry.UserUpdate{
		Domain: req.Domain, UPN: req.UPN, Email: req.Email, Password: req.Password,
		CardID: req.CardID, ShortID: req.ShortID, Disabled: req.Disabled, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userOut(u))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteUser(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) grant(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.GrantRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(req.Role) == "" {
		a.writeError(w, r, invalid("role is required: a role id or name (see GET /api/v1/roles)"))
		return
	}
	g, err := a.reg.Grant(r.Context(), p, r.PathValue("id"), req.Role, req.AccountID, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, grantOut(g))
}

func (a *API) ungrant(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	q := r.URL.Query()
	role := q.Get("role")
	if strings.TrimSpace(role) == "" {
		a.writeError(w, r, invalid("the query parameter role is required: a role id or name"))
		return
	}
	if err := a.reg.Ungrant(r.Context(), p, r.PathValue("id"), role, q.Get("account_id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func grantOut(g *registry.Grant) api.Grant {
	return api.Grant{RoleID: g.RoleID, AccountID: g.AccountID, CreatedAt: g.CreatedAt.UTC()}
}

func userOut(u *registry.UserWithGrants) api.UserDetail {
	grants := make([]api.Grant, 0, len(u.Grants))
	for i := range u.Grants {
		grants = append(grants, grantOut(&u.Grants[i]))
	}
	x := u.User
	return api.UserDetail{
		User:   api.User{ID: x.ID, Username: x.Username, AccountID: x.AccountID},
		Domain: x.Domain, UPN: x.UPN, Email: x.Email, CardID: x.CardID, ShortID: x.ShortID,
		Source: x.Source, Disabled: x.Disabled, Grants: grants,
		CreatedAt: x.CreatedAt.UTC(), UpdatedAt: x.UpdatedAt.UTC(),
	}
}

// --- roles ---

func (a *API) createRole(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.CreateRoleRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	perms := make([]registry.Permission, 0, len(req.Permissions))
	for i, s := range req.Permissions {
		if !slices.Contains(registry.AllPermissions, registry.Permission(s)) {
			a.writeError(w, r, invalid("permissions[%d] %q is not a permission (%s)", i, s, strings.Join(api.Permissions, ", ")))
			return
		}
		perms = append(perms, registry.Permission(s))
	}
	role, err := a.reg.CreateRole(r.Context(), p, registry.CreateRoleRequest{
		AccountID: req.AccountID, Name: req.Name, Permissions: perms, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, roleOut(role))
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	roles, err := a.reg.ListRoles(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.Role, 0, len(roles))
	for i := range roles {
		out = append(out, roleOut(&roles[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) deleteRole(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteRole(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func roleOut(ro *registry.Role) api.Role {
	perms := make([]string, 0, len(ro.Permissions))
	for _, p := range ro.Permissions {
		perms = append(perms, string(p))
	}
	return api.Role{ID: ro.ID, AccountID: ro.AccountID, Name: ro.Name, Permissions: perms, BuiltIn: ro.BuiltIn, CreatedAt: ro.CreatedAt.UTC()}
}

// --- keys and their values ---

func (a *API) getKey(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	k, err := a.reg.GetAPIKey(r.Context(), p, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keyDetailOut(k))
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
	writeJSON(w, http.StatusOK, keyDetailOut(k))
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.DeleteAPIKey(r.Context(), p, r.PathValue("id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) addKeyValue(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.AddValueRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.UseLimit < 0 {
		a.writeError(w, r, invalid("use_limit must be 0 (unlimited) or more"))
		return
	}
	ar := registry.AddValueRequest{Description: req.Description, UseLimit: req.UseLimit, Remote: remote(r)}
	if req.ExpiresAt != nil {
		if req.ExpiresAt.IsZero() {
			a.writeError(w, r, invalid("expires_at must be a time in the future, or absent for a value that never expires"))
			return
		}
		ar.ExpiresAt = *req.ExpiresAt
	}
	cv, err := a.reg.AddKeyValue(r.Context(), p, r.PathValue("id"), ar)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdValueOut(cv))
}

func (a *API) regenerateKeyValue(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.RegenerateRequest
	if err := decodeOptional(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	cv, err := a.reg.RegenerateKeyValue(r.Context(), p, r.PathValue("id"), req.ValueID, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, createdValueOut(cv))
}

func (a *API) revokeKeyValue(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	if err := a.reg.RevokeKeyValue(r.Context(), p, r.PathValue("id"), r.PathValue("value_id"), remote(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) addEdgeDevice(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.EdgeDeviceRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	cv, err := a.reg.AddEdgeDevice(r.Context(), p, req.AccountID, req.Name, req.Description, remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdValueOut(cv))
}

func (a *API) removeEdgeDevice(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	err := a.reg.RemoveEdgeDevice(r.Context(), p, r.URL.Query().Get("account_id"), r.PathValue("value_id"), remote(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func createdValueOut(cv *registry.CreatedValue) api.CreatedValue {
	return api.CreatedValue{ID: cv.KeyID, ValueID: cv.ValueID, Value: cv.Value}
}

func keyDetailOut(k *registry.KeyWithValues) api.KeyDetail {
	out := api.KeyDetail{Key: keyOut(&k.Key), Values: make([]api.KeyValue, 0, len(k.Values))}
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

// --- endpoints in bulk ---

var bulkActions = map[string]registry.Action{
	api.ActionApprove: registry.ActionApprove, api.ActionReject: registry.ActionReject,
	api.ActionUntrust: registry.ActionUntrust, api.ActionDelete: registry.ActionDelete,
}

// bulkEndpoints applies one action to the endpoints named by ids or matched
// by a filter (SPEC E5) and reports per endpoint; the answer is 200 even
// when some failed.
func (a *API) bulkEndpoints(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	var req api.BulkRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	action, ok := bulkActions[req.Action]
	if !ok {
		a.writeError(w, r, invalid("unknown action %q (approve, reject, untrust, delete)", req.Action))
		return
	}
	if (len(req.IDs) > 0) == (req.Filter != nil) {
		a.writeError(w, r, invalid("give either ids or filter, not both and not neither"))
		return
	}
	br := registry.BulkRequest{Action: action, IDs: req.IDs, Remote: remote(r)}
	if req.Filter != nil {
		f, err := bulkFilter(req.Filter)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		br.Filter = &f
	}
	results, err := a.reg.DecideMany(r.Context(), p, br)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := api.BulkResponse{Results: make([]api.EndpointResult, 0, len(results))}
	for _, res := range results {
		er := api.EndpointResult{ID: res.ID, Outcome: res.Outcome, State: string(res.State), Error: res.Error}
		er.OK = res.Outcome == registry.BulkOK || res.Outcome == registry.BulkNoop
		if er.OK {
			out.OK++
		} else {
			out.Failed++
		}
		out.Results = append(out.Results, er)
	}
	writeJSON(w, http.StatusOK, out)
}

func bulkFilter(in *api.BulkFilter) (registry.EndpointFilter, error) {
	var f registry.EndpointFilter
	if in.State != "" {
		st, ok := listStates[in.State]
		if !ok {
			return f, invalid("filter.state %q is not a state (pending, trusted, rejected, untrusted)", in.State)
		}
		f.State = st
	}
	if in.Type != "" {
		if !registry.ValidClientType(in.Type) {
			return f, invalid("filter.type %q is not an endpoint type", in.Type)
		}
		f.Type = in.Type
	}
	f.KeyID = in.KeyID
	if in.AccountID != "" {
		f.AccountIDs = []string{in.AccountID}
	}
	if in.From != "" {
		pfx, err := parsePrefix(in.From)
		if err != nil {
			return f, invalid("filter.from %q is not a CIDR prefix like 10.1.0.0/16", in.From)
		}
		f.From = pfx
	}
	if in.RegisteredBefore != nil {
		f.RegisteredBefore = *in.RegisteredBefore
	}
	if in.RegisteredAfter != nil {
		f.RegisteredAfter = *in.RegisteredAfter
	}
	return f, nil
}

// parsePrefix parses a CIDR prefix (or a plain address, a one-address
// prefix), masked and with IPv4-mapped IPv6 turned into IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		ad, aerr := netip.ParseAddr(s)
		if aerr != nil || ad.Zone() != "" {
			return netip.Prefix{}, err
		}
		ad = ad.Unmap()
		return netip.PrefixFrom(ad, ad.BitLen()), nil
	}
	if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
	}
	return pfx.Masked(), nil
}

// endpointFilter reads the filters of GET /api/v1/endpoints: state, type,
// key_id, account_id, from (CIDR of the registering address), text (or q:
// text in id, host name or description), seen_before, seen_after,
// registered_before and registered_after (RFC 3339).
func endpointFilter(q url.Values) (registry.EndpointFilter, error) {
	var f registry.EndpointFilter
	if s := q.Get("state"); s != "" {
		st, ok := listStates[s]
		if !ok {
			return f, invalid("unknown state %q (pending, trusted, rejected, untrusted)", s)
		}
		f.State = st
	}
	if id := q.Get("account_id"); id != "" {
		f.AccountIDs = []string{id}
	}
	if t := q.Get("type"); t != "" {
		if !registry.ValidClientType(t) {
			return f, invalid("unknown endpoint type %q", t)
		}
		f.Type = t
	}
	f.KeyID = q.Get("key_id")
	f.Text = q.Get("text")
	if f.Text == "" {
		f.Text = q.Get("q")
	}
	if len(f.Text) > 256 {
		return f, invalid("text is longer than 256 bytes")
	}
	if from := q.Get("from"); from != "" {
		pfx, err := parsePrefix(from)
		if err != nil {
			return f, invalid("from %q is not a CIDR prefix like 10.1.0.0/16", from)
		}
		f.From = pfx
	}
	for name, dst := range map[string]*time.Time{
		"seen_before": &f.SeenBefore, "seen_after": &f.SeenAfter,
		"registered_before": &f.RegisteredBefore, "registered_after": &f.RegisteredAfter,
	} {
		t, err := timeParam(q, name)
		if err != nil {
			return f, err
		}
		*dst = t
	}
	return f, nil
}

// timeParam parses an RFC 3339 query parameter; absent is the zero time.
func timeParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid("%s %q is not an RFC 3339 time like 2030-01-01T00:00:00Z", name, s)
	}
	return t, nil
}

// --- audit ---

// listAudit lists audit events, oldest first, filtered by since (inclusive)
// and until (exclusive), action (exact, or a prefix ending in "."), actor,
// target, outcome and account_id; after_id and limit page through them.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request, p *registry.Principal) {
	q := r.URL.Query()
	f := registry.AuditFilter{
		Action: q.Get("action"), Actor: q.Get("actor"), Target: q.Get("target"), Outcome: q.Get("outcome"),
		Limit: defaultAuditLimit,
	}
	if id := q.Get("account_id"); id != "" {
		f.AccountIDs = []string{id}
	}
	if f.Outcome != "" && f.Outcome != registry.OutcomeSuccess && f.Outcome != registry.OutcomeFailure {
		a.writeError(w, r, invalid("outcome %q is not success or failure", f.Outcome))
		return
	}
	var err error
	if f.Since, err = timeParam(q, "since"); err != nil {
		a.writeError(w, r, err)
		return
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		a.writeError(w, r, err)
		return
	}
	if s := q.Get("after_id"); s != "" {
		if f.AfterID, err = strconv.ParseInt(s, 10, 64); err != nil || f.AfterID < 0 {
			a.writeError(w, r, invalid("after_id %q is not an event id", s))
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditLimit {
			a.writeError(w, r, invalid("limit %q must be a number from 1 to %d", s, maxAuditLimit))
			return
		}
		f.Limit = n
	}
	events, err := a.reg.ListAudit(r.Context(), p, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]api.AuditEvent, 0, len(events))
	for _, e := range events {
		detail := e.Detail
		if detail == nil {
			detail = map[string]string{}
		}
		out = append(out, api.AuditEvent{
			ID: e.ID, Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, AccountID: e.AccountID,
			Target: e.Target, Outcome: e.Outcome, Remote: e.Remote, Detail: detail,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeOptional is decode for routes whose body may be absent or empty:
// then v keeps its zero value.
func decodeOptional(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return decode(r, v)
}
