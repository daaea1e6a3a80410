package sqlite

import "github.com/edgetrust/edgetrust/broker/registry"

// --- Accounts ---

const accountCols = `id, parent_id, name, type, disabled, trust_all_endpoints, deny_user_creation,
	device_token_ttl, user_token_ttl, refresh_ttl, key_quota, endpoint_quota, stale_after, delete_stale,
	require_endpoint_keys, require_dpop, created_at, updated_at, pending_per_key_value, pending_per_account, lock_out_clones`

func scanAccount(r rowScanner) (registry.Account, error) {
	var a registry.Account
	st := &a.Settings
	err := r.Scan(&a.ID, &a.ParentID, &a.Name, &a.Type, &a.Disabled, &a.TrustAllEndpoints,
		&a.DenyUserCreation, scanDuration{P: &st.DeviceTokenTTL}, scanDuration{P: &st.UserTokenTTL},
		scanDuration{P: &st.RefreshTTL}, &st.KeyQuota, &st.EndpointQuota, scanDuration{P: &st.StaleAfter},
		&st.DeleteStale, &st.RequireEndpointKeys, &st.RequireDPoP, scanTime{P: &a.CreatedAt}, scanTime{P: &a.UpdatedAt},
		&st.PendingPerKeyValue, &st.PendingPerAccount, &st.LockOutClones)
	return a, err
}

// CreateAccount also stores the name's registry.AccountNameKey in name_key,
// unique per parent (index accounts_parent_name_key): ErrConflict when a
// sibling has the name.
func (t *tx) CreateAccount(a *registry.Account) error {
	st := &a.Settings
	return t.insert("account", a.ID, `INSERT INTO accounts (`+accountCols+`, name_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.ParentID, a.Name, string(a.Type), a.Disabled, a.TrustAllEndpoints, a.DenyUserCreation,
		int64(st.DeviceTokenTTL), int64(st.UserTokenTTL), int64(st.RefreshTTL), st.KeyQuota,
		st.EndpointQuota, int64(st.StaleAfter), st.DeleteStale, st.RequireEndpointKeys, st.RequireDPoP,
		nanos(a.CreatedAt), nanos(a.UpdatedAt), st.PendingPerKeyValue, st.PendingPerAccount, st.LockOutClones, registry.AccountNameKey(a.Name))
}

func (t *tx) GetAccount(id string) (*registry.Account, error) {
	return getOne(t, "account", id, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id)
}

func (t *tx) ListAccounts() ([]registry.Account, error) {
	return list(t, "accounts", scanAccount, `SELECT `+accountCols+` FROM accounts ORDER BY created_at, id`)
}

// UpdateAccount replaces every field but ID and CreatedAt, and name_key
// with the name; ErrConflict when a sibling has the name.
func (t *tx) UpdateAccount(a *registry.Account) error {
	st := &a.Settings
	return t.execOne("updating account", a.ID, `UPDATE accounts SET parent_id = ?, name = ?, type = ?,
		disabled = ?, trust_all_endpoints = ?, deny_user_creation = ?, device_token_ttl = ?,
		user_token_ttl = ?, refresh_ttl = ?, key_quota = ?, endpoint_quota = ?, stale_after = ?,
		delete_stale = ?, require_endpoint_keys = ?, require_dpop = ?, updated_at = ?, name_key = ?,
		pending_per_key_value = ?, pending_per_account = ?, lock_out_clones = ? WHERE id = ?`,
		a.ParentID, a.Name, string(a.Type), a.Disabled, a.TrustAllEndpoints, a.DenyUserCreation,
		int64(st.DeviceTokenTTL), int64(st.UserTokenTTL), int64(st.RefreshTTL), st.KeyQuota,
		st.EndpointQuota, int64(st.StaleAfter), st.DeleteStale, st.RequireEndpointKeys, st.RequireDPoP,
		nanos(a.UpdatedAt), registry.AccountNameKey(a.Name), st.PendingPerKeyValue, st.PendingPerAccount, st.LockOutClones, a.ID)
}
