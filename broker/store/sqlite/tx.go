package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// tx implements registry.Tx on one transaction of a dbConn. Its statements
// run on the cached prepared statements of that connection.
type tx struct {
	// ctx is the context given to Update or View: every statement first
	// fails with ctx.Err() once it is done.
	ctx context.Context
	// qctx is the context the driver gets. For an Update it is ctx without
	// its cancellation: the driver answers a cancellation by interrupting
	// the statement, and an interrupted write rolls back the whole SQLite
	// transaction, which a group commit shares with other Updates.
	qctx context.Context
	c    *dbConn
	// done is set when fn returned: the transaction is no longer fn's.
	done atomic.Bool
	// batch numbers the writer's transactions (0 in a View), for tests.
	batch uint64
}

var _ registry.Tx = (*tx)(nil)

type rowScanner interface{ Scan(dest ...any) error }

// errRow is a rowScanner for a query that failed before it ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// usable returns why t can run no more statements, or nil.
func (t *tx) usable() error {
	if t.done.Load() {
		return sql.ErrTxDone
	}
	return t.ctx.Err()
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	res, err := t.c.exec(t.qctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return res, nil
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	return t.c.query(t.qctx, query, args...)
}

// queryRow runs a query for at most one row; Scan returns sql.ErrNoRows
// when there is none.
func (t *tx) queryRow(query string, args ...any) rowScanner {
	rows, err := t.query(query, args...)
	if err != nil {
		return errRow{err}
	}
	return oneRow{rows}
}

// oneRow scans the first row of rows and closes them, as sql.Row does.
type oneRow struct{ rows *sql.Rows }

func (r oneRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

// execOne runs an UPDATE or DELETE by primary key and returns an error
// wrapping ErrNotFound when it touched no row.
func (t *tx) execOne(what, id, query string, args ...any) error {
	res, err := t.exec(query, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, registry.ErrNotFound)
	}
	return nil
}

// insert runs an INSERT of the what with this id.
func (t *tx) insert(what, id, query string, args ...any) error {
	if _, err := t.exec(query, args...); err != nil {
		return fmt.Errorf("creating %s %s: %w", what, id, err)
	}
	return nil
}

// exists reports whether query (a SELECT 1 ...) returns a row.
func (t *tx) exists(query string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// count runs a SELECT count(*) query.
func (t *tx) count(what, id, query string, args ...any) (int, error) {
	var n int
	if err := t.queryRow(query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s %s: %w", what, id, err)
	}
	return n, nil
}

// getOne scans the single row of query, or returns ErrNotFound.
func getOne[T any](t *tx, what, id string, scan func(rowScanner) (T, error), query string, args ...any) (*T, error) {
	v, err := scan(t.queryRow(query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", what, id, registry.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, id, err)
	}
	return &v, nil
}

// list scans every row of query.
func list[T any](t *tx, what string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return out, nil
}

// in returns "col IN (?, ?, ...)" and its arguments.
func in[S ~string](col string, vals []S) (string, []any) {
	ph := make([]string, len(vals))
	args := make([]any, len(vals))
	for i, v := range vals {
		ph[i] = "?"
		args[i] = string(v)
	}
	return col + " IN (" + strings.Join(ph, ", ") + ")", args
}

// whereClause joins conditions with AND.
func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// --- Accounts ---

const accountCols = `id, parent_id, name, type, disabled, trust_all_endpoints, deny_user_creation,
	device_token_ttl, user_token_ttl, refresh_ttl, key_quota, endpoint_quota, stale_after, delete_stale,
	require_endpoint_keys, require_dpop, created_at, updated_at`

func scanAccount(r rowScanner) (registry.Account, error) {
	var a registry.Account
	st := &a.Settings
	err := r.Scan(&a.ID, &a.ParentID, &a.Name, &a.Type, &a.Disabled, &a.TrustAllEndpoints,
		&a.DenyUserCreation, scanDuration{&st.DeviceTokenTTL}, scanDuration{&st.UserTokenTTL},
		scanDuration{&st.RefreshTTL}, &st.KeyQuota, &st.EndpointQuota, scanDuration{&st.StaleAfter},
		&st.DeleteStale, &st.RequireEndpointKeys, &st.RequireDPoP, scanTime{&a.CreatedAt}, scanTime{&a.UpdatedAt})
	return a, err
}

func (t *tx) CreateAccount(a *registry.Account) error {
	st := &a.Settings
	return t.insert("account", a.ID, `INSERT INTO accounts (`+accountCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.ParentID, a.Name, string(a.Type), a.Disabled, a.TrustAllEndpoints, a.DenyUserCreation,
		int64(st.DeviceTokenTTL), int64(st.UserTokenTTL), int64(st.RefreshTTL), st.KeyQuota,
		st.EndpointQuota, int64(st.StaleAfter), st.DeleteStale, st.RequireEndpointKeys, st.RequireDPoP,
		nanos(a.CreatedAt), nanos(a.UpdatedAt))
}

func (t *tx) GetAccount(id string) (*registry.Account, error) {
	return getOne(t, "account", id, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id)
}

func (t *tx) ListAccounts() ([]registry.Account, error) {
	return list(t, "accounts", scanAccount, `SELECT `+accountCols+` FROM accounts ORDER BY created_at, id`)
}

// UpdateAccount replaces every field but ID and CreatedAt.
func (t *tx) UpdateAccount(a *registry.Account) error {
	st := &a.Settings
	return t.execOne("updating account", a.ID, `UPDATE accounts SET parent_id = ?, name = ?, type = ?,
		disabled = ?, trust_all_endpoints = ?, deny_user_creation = ?, device_token_ttl = ?,
		user_token_ttl = ?, refresh_ttl = ?, key_quota = ?, endpoint_quota = ?, stale_after = ?,
		delete_stale = ?, require_endpoint_keys = ?, require_dpop = ?, updated_at = ? WHERE id = ?`,
		a.ParentID, a.Name, string(a.Type), a.Disabled, a.TrustAllEndpoints, a.DenyUserCreation,
		int64(st.DeviceTokenTTL), int64(st.UserTokenTTL), int64(st.RefreshTTL), st.KeyQuota,
		st.EndpointQuota, int64(st.StaleAfter), st.DeleteStale, st.RequireEndpointKeys, st.RequireDPoP,
		nanos(a.UpdatedAt), a.ID)
}

// --- Users ---

const userCols = `id, account_id, username, domain, upn, email, card_id, short_id, password_hash, source,
	disabled, created_at, updated_at`

func scanUser(r rowScanner) (registry.User, error) {
	var u registry.User
	err := r.Scan(&u.ID, &u.AccountID, &u.Username, &u.Domain, &u.UPN, &u.Email, &u.CardID, &u.ShortID,
		&u.PasswordHash, &u.Source, &u.Disabled, scanTime{&u.CreatedAt}, scanTime{&u.UpdatedAt})
	return u, err
}

// CreateUser returns ErrConflict on a duplicate id, name, or non-empty
// CardID or ShortID in the same account.
func (t *tx) CreateUser(u *registry.User) error {
	return t.insert("user", u.ID, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.AccountID, u.Username, u.Domain, u.UPN, u.Email, u.CardID, u.ShortID, u.PasswordHash,
		u.Source, u.Disabled, nanos(u.CreatedAt), nanos(u.UpdatedAt))
}

func (t *tx) GetUser(id string) (*registry.User, error) {
	return getOne(t, "user", id, scanUser, `SELECT `+userCols+` FROM users WHERE id = ?`, id)
}

// FindUsers orders by CreatedAt, then ID. Case-insensitive comparison uses
// SQLite's lower(), which folds ASCII letters only.
func (t *tx) FindUsers(f registry.UserFilter) ([]registry.User, error) {
	var conds []string
	var args []any
	if f.AccountID != "" {
		conds = append(conds, "account_id = ?")
		args = append(args, f.AccountID)
	}
	if f.Username != "" {
		conds = append(conds, "lower(username) = lower(?)")
		args = append(args, f.Username)
	}
	if f.Domain != "" {
		conds = append(conds, "lower(domain) = lower(?)")
		args = append(args, f.Domain)
	}
	if f.UPN != "" {
		conds = append(conds, "lower(upn) = lower(?)")
		args = append(args, f.UPN)
	}
	if f.CardID != "" {
		conds = append(conds, "lower(card_id) = lower(?)")
		args = append(args, f.CardID)
	}
	if f.ShortID != "" {
		conds = append(conds, "lower(short_id) = lower(?)")
		args = append(args, f.ShortID)
	}
	return list(t, "users", scanUser,
		`SELECT `+userCols+` FROM users`+whereClause(conds)+` ORDER BY created_at, id`, args...)
}

// UpdateUser replaces every field but ID and CreatedAt; ErrConflict when
// the new (AccountID, Username, Domain), CardID or ShortID is taken.
func (t *tx) UpdateUser(u *registry.User) error {
	return t.execOne("updating user", u.ID, `UPDATE users SET account_id = ?, username = ?, domain = ?,
		upn = ?, email = ?, card_id = ?, short_id = ?, password_hash = ?, source = ?, disabled = ?,
		updated_at = ? WHERE id = ?`,
		u.AccountID, u.Username, u.Domain, u.UPN, u.Email, u.CardID, u.ShortID, u.PasswordHash, u.Source,
		u.Disabled, nanos(u.UpdatedAt), u.ID)
}

// DeleteUser deletes the user's grants, then the user. API keys that run as
// the user keep their RunAsUserID (find them with ListAPIKeysRunningAs).
func (t *tx) DeleteUser(id string) error {
	if _, err := t.exec(`DELETE FROM grants WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("deleting grants of user %s: %w", id, err)
	}
	return t.execOne("deleting user", id, `DELETE FROM users WHERE id = ?`, id)
}

// --- Roles and grants ---

const roleCols = `id, account_id, name, permissions, built_in, created_at`

func scanRole(r rowScanner) (registry.Role, error) {
	var ro registry.Role
	err := r.Scan(&ro.ID, &ro.AccountID, &ro.Name, scanJSON{&ro.Permissions}, &ro.BuiltIn, scanTime{&ro.CreatedAt})
	return ro, err
}

func (t *tx) CreateRole(r *registry.Role) error {
	return t.insert("role", r.ID, `INSERT INTO roles (`+roleCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.AccountID, r.Name, jsonText{r.Permissions}, r.BuiltIn, nanos(r.CreatedAt))
}

func (t *tx) GetRole(id string) (*registry.Role, error) {
	return getOne(t, "role", id, scanRole, `SELECT `+roleCols+` FROM roles WHERE id = ?`, id)
}

// ListRoles returns the built-in roles first, then the others, each part
// ordered by CreatedAt, then ID.
func (t *tx) ListRoles() ([]registry.Role, error) {
	return list(t, "roles", scanRole, `SELECT `+roleCols+` FROM roles ORDER BY built_in DESC, created_at, id`)
}

// UpdateRole replaces Name and Permissions; AccountID, BuiltIn and CreatedAt
// stay.
func (t *tx) UpdateRole(r *registry.Role) error {
	return t.execOne("updating role", r.ID, `UPDATE roles SET name = ?, permissions = ? WHERE id = ?`,
		r.Name, jsonText{r.Permissions}, r.ID)
}

// DeleteRole deletes every grant of the role, then the role. API keys that
// run as the role keep their RunAsRoleID.
func (t *tx) DeleteRole(id string) error {
	if _, err := t.exec(`DELETE FROM grants WHERE role_id = ?`, id); err != nil {
		return fmt.Errorf("deleting grants of role %s: %w", id, err)
	}
	return t.execOne("deleting role", id, `DELETE FROM roles WHERE id = ?`, id)
}

const grantCols = `user_id, role_id, account_id, created_at`

func scanGrant(r rowScanner) (registry.Grant, error) {
	var g registry.Grant
	err := r.Scan(&g.UserID, &g.RoleID, &g.AccountID, scanTime{&g.CreatedAt})
	return g, err
}

func (t *tx) CreateGrant(g *registry.Grant) error {
	return t.insert("grant", fmt.Sprintf("of role %s at %s to user %s", g.RoleID, g.AccountID, g.UserID),
		`INSERT INTO grants (`+grantCols+`) VALUES (?, ?, ?, ?)`, g.UserID, g.RoleID, g.AccountID, nanos(g.CreatedAt))
}

// ListGrants returns the user's grants ordered by CreatedAt, AccountID, RoleID.
func (t *tx) ListGrants(userID string) ([]registry.Grant, error) {
	return list(t, "grants", scanGrant,
		`SELECT `+grantCols+` FROM grants WHERE user_id = ? ORDER BY created_at, account_id, role_id`, userID)
}

func (t *tx) DeleteGrant(userID, roleID, accountID string) error {
	return t.execOne("deleting grant", fmt.Sprintf("of role %s at %s to user %s", roleID, accountID, userID),
		`DELETE FROM grants WHERE user_id = ? AND role_id = ? AND account_id = ?`, userID, roleID, accountID)
}

// --- API keys ---

const apiKeyCols = `id, account_id, type, name, description, key_group, active, allow_unauthenticated,
	allow_untrusted_endpoints, auto_trust, full_api_access, expires_at, allowed_ips, run_as_user_id,
	run_as_role_id, predefined, created_by, created_at, updated_at`

func scanAPIKey(r rowScanner) (registry.APIKey, error) {
	var k registry.APIKey
	err := r.Scan(&k.ID, &k.AccountID, &k.Type, &k.Name, &k.Description, &k.Group, &k.Active,
		&k.AllowUnauthenticated, &k.AllowUntrustedEndpoints, &k.AutoTrust, &k.FullAPIAccess,
		scanTime{&k.ExpiresAt}, scanPrefixes{&k.AllowedIPs}, &k.RunAsUserID, &k.RunAsRoleID,
		&k.Predefined, &k.CreatedBy, scanTime{&k.CreatedAt}, scanTime{&k.UpdatedAt})
	return k, err
}

func (t *tx) CreateAPIKey(k *registry.APIKey) error {
	return t.insert("API key", k.ID, `INSERT INTO api_keys (`+apiKeyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.AccountID, string(k.Type), k.Name, k.Description, k.Group, k.Active,
		k.AllowUnauthenticated, k.AllowUntrustedEndpoints, k.AutoTrust, k.FullAPIAccess,
		nanos(k.ExpiresAt), prefixes(k.AllowedIPs), k.RunAsUserID, k.RunAsRoleID, k.Predefined,
		k.CreatedBy, nanos(k.CreatedAt), nanos(k.UpdatedAt))
}

func (t *tx) GetAPIKey(id string) (*registry.APIKey, error) {
	return getOne(t, "API key", id, scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`, id)
}

func (t *tx) ListAPIKeys(accountID string) ([]registry.APIKey, error) {
	if accountID == "" {
		return list(t, "API keys", scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at, id`)
	}
	return list(t, "API keys", scanAPIKey,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE account_id = ? ORDER BY created_at, id`, accountID)
}

// UpdateAPIKey replaces every field but ID and CreatedAt.
func (t *tx) UpdateAPIKey(k *registry.APIKey) error {
	return t.execOne("updating API key", k.ID, `UPDATE api_keys SET account_id = ?, type = ?, name = ?,
		description = ?, key_group = ?, active = ?, allow_unauthenticated = ?,
		allow_untrusted_endpoints = ?, auto_trust = ?, full_api_access = ?, expires_at = ?,
		allowed_ips = ?, run_as_user_id = ?, run_as_role_id = ?, predefined = ?, created_by = ?,
		updated_at = ? WHERE id = ?`,
		k.AccountID, string(k.Type), k.Name, k.Description, k.Group, k.Active, k.AllowUnauthenticated,
		k.AllowUntrustedEndpoints, k.AutoTrust, k.FullAPIAccess, nanos(k.ExpiresAt),
		prefixes(k.AllowedIPs), k.RunAsUserID, k.RunAsRoleID, k.Predefined, k.CreatedBy,
		nanos(k.UpdatedAt), k.ID)
}

// ListAPIKeysRunningAs orders by CreatedAt, then ID. An empty userID
// matches no key (not the keys that run as nobody).
func (t *tx) ListAPIKeysRunningAs(userID string) ([]registry.APIKey, error) {
	if userID == "" {
		return nil, nil
	}
	return list(t, "API keys", scanAPIKey,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE run_as_user_id = ? ORDER BY created_at, id`, userID)
}

// DeleteAPIKey deletes the key's values, then the key. Endpoints keep
// KeyID and KeyValueID (neither is a foreign key).
func (t *tx) DeleteAPIKey(id string) error {
	if _, err := t.exec(`DELETE FROM key_values WHERE key_id = ?`, id); err != nil {
		return fmt.Errorf("deleting values of API key %s: %w", id, err)
	}
	return t.execOne("deleting API key", id, `DELETE FROM api_keys WHERE id = ?`, id)
}

// CountAPIKeys is 0 for an unknown account.
func (t *tx) CountAPIKeys(accountID string) (int, error) {
	return t.count("API keys of account", accountID, `SELECT count(*) FROM api_keys WHERE account_id = ?`, accountID)
}

const keyValueCols = `id, key_id, public_id, secret_hash, description, created_at, expires_at, revoked_at,
	last_used_at, last_used_from, use_count, use_limit, edge_device`

func scanKeyValue(r rowScanner) (registry.KeyValue, error) {
	var v registry.KeyValue
	err := r.Scan(&v.ID, &v.KeyID, &v.PublicID, scanBlob{&v.SecretHash}, &v.Description,
		scanTime{&v.CreatedAt}, scanTime{&v.ExpiresAt}, scanTime{&v.RevokedAt}, scanTime{&v.LastUsedAt},
		&v.LastUsedFrom, &v.UseCount, &v.UseLimit, &v.EdgeDevice)
	return v, err
}

func (t *tx) CreateKeyValue(v *registry.KeyValue) error {
	return t.insert("key value", v.ID, `INSERT INTO key_values (`+keyValueCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.KeyID, v.PublicID, blob(v.SecretHash), v.Description, nanos(v.CreatedAt),
		nanos(v.ExpiresAt), nanos(v.RevokedAt), nanos(v.LastUsedAt), v.LastUsedFrom, v.UseCount, v.UseLimit,
		v.EdgeDevice)
}

func (t *tx) GetKeyValue(id string) (*registry.KeyValue, error) {
	return getOne(t, "key value", id, scanKeyValue, `SELECT `+keyValueCols+` FROM key_values WHERE id = ?`, id)
}

func (t *tx) GetKeyValueByPublicID(publicID string) (*registry.KeyValue, error) {
	return getOne(t, "key value with public id", publicID, scanKeyValue,
		`SELECT `+keyValueCols+` FROM key_values WHERE public_id = ?`, publicID)
}

// ListKeyValues returns the key's values ordered by CreatedAt, then ID.
func (t *tx) ListKeyValues(keyID string) ([]registry.KeyValue, error) {
	return list(t, "key values", scanKeyValue,
		`SELECT `+keyValueCols+` FROM key_values WHERE key_id = ? ORDER BY created_at, id`, keyID)
}

// UpdateKeyValue leaves KeyID, CreatedAt, LastUsedAt/From and UseCount
// alone.
func (t *tx) UpdateKeyValue(v *registry.KeyValue) error {
	return t.execOne("updating key value", v.ID, `UPDATE key_values SET public_id = ?, secret_hash = ?,
		description = ?, expires_at = ?, revoked_at = ?, use_limit = ?, edge_device = ? WHERE id = ?`,
		v.PublicID, blob(v.SecretHash), v.Description, nanos(v.ExpiresAt), nanos(v.RevokedAt), v.UseLimit,
		v.EdgeDevice, v.ID)
}

// RecordKeyUse returns ErrNotFound when there is no value with that id. A
// UseLimit of 0 (or below) means unlimited.
func (t *tx) RecordKeyUse(valueID string, at time.Time, from string, consume bool) error {
	if !consume {
		return t.execOne("recording use of key value", valueID,
			`UPDATE key_values SET last_used_at = ?, last_used_from = ? WHERE id = ?`,
			nanos(at), from, valueID)
	}
	return t.updateIf("consuming key value "+valueID, registry.ErrLimitReached,
		`SELECT 1 FROM key_values WHERE id = ?`, valueID,
		`UPDATE key_values SET use_count = use_count + 1, last_used_at = ?, last_used_from = ?
		WHERE id = ? AND (use_limit <= 0 OR use_count < use_limit)`, nanos(at), from, valueID)
}

// --- Endpoints ---

const endpointCols = `id, account_id, state, type, description, hostname, os, version, key_type, public_key,
	key_thumbprint, key_id, key_value_id, registered_at, registered_from, decided_by, decided_at,
	last_seen_at, last_seen_from, device_code_hash, device_code_expires_at, updated_at`

func scanEndpoint(r rowScanner) (registry.Endpoint, error) {
	var e registry.Endpoint
	err := r.Scan(&e.ID, &e.AccountID, &e.State, &e.Type, &e.Description, &e.Hostname, &e.OS,
		&e.Version, &e.KeyType, scanBlob{&e.PublicKey}, &e.KeyThumbprint, &e.KeyID, &e.KeyValueID,
		scanTime{&e.RegisteredAt}, &e.RegisteredFrom, &e.DecidedBy, scanTime{&e.DecidedAt},
		scanTime{&e.LastSeenAt}, &e.LastSeenFrom, scanBlob{&e.DeviceCodeHash},
		scanTime{&e.DeviceCodeExpiresAt}, scanTime{&e.UpdatedAt})
	return e, err
}

func (t *tx) CreateEndpoint(e *registry.Endpoint) error {
	return t.insert("endpoint", e.ID, `INSERT INTO endpoints (`+endpointCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.AccountID, string(e.State), e.Type, e.Description, e.Hostname, e.OS, e.Version,
		e.KeyType, blob(e.PublicKey), e.KeyThumbprint, e.KeyID, e.KeyValueID, nanos(e.RegisteredAt),
		e.RegisteredFrom, e.DecidedBy, nanos(e.DecidedAt), nanos(e.LastSeenAt), e.LastSeenFrom,
		blob(e.DeviceCodeHash), nanos(e.DeviceCodeExpiresAt), nanos(e.UpdatedAt))
}

func (t *tx) GetEndpoint(id string) (*registry.Endpoint, error) {
	return getOne(t, "endpoint", id, scanEndpoint, `SELECT `+endpointCols+` FROM endpoints WHERE id = ?`, id)
}

// ListEndpoints applies f. A nil AccountIDs or IDs matches anything; a
// non-nil empty one matches nothing. RegisteredBefore, RegisteredAfter,
// SeenBefore and SeenAfter are exclusive; an endpoint never seen (zero
// LastSeenAt) counts as last seen at its RegisteredAt, so SeenBefore finds
// endpoints registered long ago and silent since (SPEC E8). From and Text are applied in Go (Text so that case folding
// is Unicode's, not SQLite's ASCII-only lower()); Limit counts the endpoints
// that pass every filter.
func (t *tx) ListEndpoints(f registry.EndpointFilter) ([]registry.Endpoint, error) {
	var conds []string
	var args []any
	if f.AccountIDs != nil {
		if len(f.AccountIDs) == 0 {
			return nil, nil
		}
		c, a := in("account_id", f.AccountIDs)
		conds, args = append(conds, c), append(args, a...)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, nil
		}
		c, a := in("id", f.IDs)
		conds, args = append(conds, c), append(args, a...)
	}
	if f.State != "" {
		conds, args = append(conds, "state = ?"), append(args, string(f.State))
	}
	if f.Type != "" {
		conds, args = append(conds, "type = ?"), append(args, f.Type)
	}
	if f.KeyID != "" {
		conds, args = append(conds, "key_id = ?"), append(args, f.KeyID)
	}
	if !f.RegisteredBefore.IsZero() {
		conds, args = append(conds, "registered_at < ?"), append(args, nanos(f.RegisteredBefore))
	}
	if !f.RegisteredAfter.IsZero() {
		conds, args = append(conds, "registered_at > ?"), append(args, nanos(f.RegisteredAfter))
	}
	if !f.SeenBefore.IsZero() {
		conds, args = append(conds, "coalesce(last_seen_at, registered_at) < ?"), append(args, nanos(f.SeenBefore))
	}
	if !f.SeenAfter.IsZero() {
		conds, args = append(conds, "coalesce(last_seen_at, registered_at) > ?"), append(args, nanos(f.SeenAfter))
	}
	postFilter := f.From.IsValid() || f.Text != ""
	q := `SELECT ` + endpointCols + ` FROM endpoints` + whereClause(conds) + ` ORDER BY registered_at, id`
	if f.Limit > 0 && !postFilter {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	es, err := list(t, "endpoints", scanEndpoint, q, args...)
	if err != nil || !postFilter {
		return es, err
	}
	text := strings.ToLower(f.Text)
	out := es[:0]
	for _, e := range es {
		if f.From.IsValid() && !prefixHolds(f.From, e.RegisteredFrom) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(e.ID), text) &&
			!strings.Contains(strings.ToLower(e.Hostname), text) &&
			!strings.Contains(strings.ToLower(e.Description), text) {
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// prefixHolds reports whether the address in s (an IP, or IP:port) lies in
// p. IPv4-mapped IPv6 addresses count as IPv4.
func prefixHolds(p netip.Prefix, s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return false
		}
		a = ap.Addr()
	}
	return p.Contains(a.WithZone("").Unmap())
}

// UpdateEndpoint replaces every field but ID.
func (t *tx) UpdateEndpoint(e *registry.Endpoint) error {
	return t.execOne("updating endpoint", e.ID, `UPDATE endpoints SET account_id = ?, state = ?, type = ?,
		description = ?, hostname = ?, os = ?, version = ?, key_type = ?, public_key = ?,
		key_thumbprint = ?, key_id = ?, key_value_id = ?, registered_at = ?, registered_from = ?,
		decided_by = ?, decided_at = ?, last_seen_at = ?, last_seen_from = ?, device_code_hash = ?,
		device_code_expires_at = ?, updated_at = ? WHERE id = ?`,
		e.AccountID, string(e.State), e.Type, e.Description, e.Hostname, e.OS, e.Version, e.KeyType,
		blob(e.PublicKey), e.KeyThumbprint, e.KeyID, e.KeyValueID, nanos(e.RegisteredAt),
		e.RegisteredFrom, e.DecidedBy, nanos(e.DecidedAt), nanos(e.LastSeenAt), e.LastSeenFrom,
		blob(e.DeviceCodeHash), nanos(e.DeviceCodeExpiresAt), nanos(e.UpdatedAt), e.ID)
}

// stateConflict is TransitionEndpoint's error when the endpoint's state is
// not one of the states it may leave.
type stateConflict []registry.State

func (c stateConflict) Error() string {
	return fmt.Sprintf("state not in %v: %v", []registry.State(c), registry.ErrConflict)
}
func (c stateConflict) Unwrap() error { return registry.ErrConflict }

// TransitionEndpoint also sets UpdatedAt to at. An empty from allows no
// transition (ErrConflict for an existing endpoint).
func (t *tx) TransitionEndpoint(id string, from []registry.State, to registry.State, by string, at time.Time) error {
	what := "transitioning endpoint " + id + " to " + string(to)
	failed := stateConflict(from) // formatted only if the transition fails
	const existsQuery = `SELECT 1 FROM endpoints WHERE id = ?`
	if len(from) == 0 {
		return t.whyNotUpdated(what, failed, existsQuery, id)
	}
	c, a := in("state", from)
	args := append([]any{string(to), by, nanos(at), nanos(at), id}, a...)
	return t.updateIf(what, failed, existsQuery, id,
		`UPDATE endpoints SET state = ?, decided_by = ?, decided_at = ?, updated_at = ?
		WHERE id = ? AND `+c, args...)
}

// TouchEndpoint returns ErrNotFound when there is no such endpoint. It does
// not change UpdatedAt.
func (t *tx) TouchEndpoint(id string, at time.Time, from string) error {
	return t.execOne("touching endpoint", id,
		`UPDATE endpoints SET last_seen_at = ?, last_seen_from = ? WHERE id = ?`, nanos(at), from, id)
}

// DeleteEndpoint returns ErrNotFound when there is no such endpoint. The
// endpoint's refresh tokens stay (revoke them with RevokeRefreshTokensOf).
func (t *tx) DeleteEndpoint(id string) error {
	return t.execOne("deleting endpoint", id, `DELETE FROM endpoints WHERE id = ?`, id)
}

// CountEndpoints is 0 for an unknown account.
func (t *tx) CountEndpoints(accountID string) (int, error) {
	return t.count("endpoints of account", accountID, `SELECT count(*) FROM endpoints WHERE account_id = ?`, accountID)
}

// --- Refresh tokens ---

const refreshCols = `id, hash, chain_id, subject_type, subject_id, account_id, endpoint_id, issued_at,
	expires_at, used_at, revoked_at`

func scanRefresh(r rowScanner) (registry.RefreshToken, error) {
	var rt registry.RefreshToken
	err := r.Scan(&rt.ID, scanBlob{&rt.Hash}, &rt.ChainID, &rt.SubjectType, &rt.SubjectID, &rt.AccountID,
		&rt.EndpointID, scanTime{&rt.IssuedAt}, scanTime{&rt.ExpiresAt}, scanTime{&rt.UsedAt},
		scanTime{&rt.RevokedAt})
	return rt, err
}

// CreateRefreshToken returns ErrConflict on a duplicate id or hash.
func (t *tx) CreateRefreshToken(rt *registry.RefreshToken) error {
	if len(rt.Hash) == 0 {
		return fmt.Errorf("creating refresh token %s: empty hash", rt.ID)
	}
	return t.insert("refresh token", rt.ID, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rt.ID, rt.Hash, rt.ChainID, rt.SubjectType, rt.SubjectID, rt.AccountID, rt.EndpointID,
		nanos(rt.IssuedAt), nanos(rt.ExpiresAt), nanos(rt.UsedAt), nanos(rt.RevokedAt))
}

// ConsumeRefreshToken treats a zero ExpiresAt as already expired.
func (t *tx) ConsumeRefreshToken(hash []byte, at time.Time) (*registry.RefreshToken, error) {
	res, err := t.exec(`UPDATE refresh_tokens SET used_at = ?
		WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		nanos(at), hash, nanos(at))
	if err != nil {
		return nil, fmt.Errorf("consuming refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("consuming refresh token: %w", err)
	}
	rt, err := scanRefresh(t.queryRow(
		`SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("consuming refresh token: %w", registry.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("consuming refresh token: %w", err)
	}
	if n == 0 {
		return &rt, fmt.Errorf("consuming refresh token %s: used, revoked or expired: %w", rt.ID, registry.ErrConflict)
	}
	return &rt, nil
}

func (t *tx) RevokeRefreshChain(chainID string, at time.Time) error {
	_, err := t.exec(`UPDATE refresh_tokens SET revoked_at = ? WHERE chain_id = ? AND revoked_at IS NULL`,
		nanos(at), chainID)
	if err != nil {
		return fmt.Errorf("revoking refresh chain %s: %w", chainID, err)
	}
	return nil
}

func (t *tx) RevokeRefreshTokensOf(subjectType, subjectID string, at time.Time) error {
	q := `UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND (subject_type = ? AND subject_id = ?)`
	args := []any{nanos(at), subjectType, subjectID}
	if subjectType == registry.SubjectEndpoint {
		q = `UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND
			((subject_type = ? AND subject_id = ?) OR (subject_type = ? AND endpoint_id = ?))`
		args = append(args, registry.SubjectUser, subjectID)
	}
	if _, err := t.exec(q, args...); err != nil {
		return fmt.Errorf("revoking refresh tokens of %s %s: %w", subjectType, subjectID, err)
	}
	return nil
}

// --- Audit ---

const auditCols = `id, time, actor, action, account_id, target, outcome, remote, detail`

func scanAudit(r rowScanner) (registry.AuditEvent, error) {
	var e registry.AuditEvent
	err := r.Scan(&e.ID, scanTime{&e.Time}, &e.Actor, &e.Action, &e.AccountID, &e.Target, &e.Outcome,
		&e.Remote, scanJSON{&e.Detail})
	return e, err
}

// AppendAudit ignores e.ID on input and sets it to the new, increasing id.
func (t *tx) AppendAudit(e *registry.AuditEvent) error {
	res, err := t.exec(`INSERT INTO audit_events (time, actor, action, account_id, target, outcome, remote, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		nanos(e.Time), e.Actor, e.Action, e.AccountID, e.Target, e.Outcome, e.Remote, jsonText{e.Detail})
	if err != nil {
		return fmt.Errorf("appending audit event %s: %w", e.Action, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("appending audit event %s: %w", e.Action, err)
	}
	e.ID = id
	return nil
}

// ListAudit applies f. A nil AccountIDs matches anything; a non-nil empty
// one matches nothing. Since is inclusive; Until and AfterID are exclusive.
func (t *tx) ListAudit(f registry.AuditFilter) ([]registry.AuditEvent, error) {
	var conds []string
	var args []any
	if f.AccountIDs != nil {
		if len(f.AccountIDs) == 0 {
			return nil, nil
		}
		c, a := in("account_id", f.AccountIDs)
		conds, args = append(conds, c), append(args, a...)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			// substr, not LIKE, so '%' and '_' in the prefix are literal.
			conds, args = append(conds, "substr(action, 1, ?) = ?"), append(args, len(f.Action), f.Action)
		} else {
			conds, args = append(conds, "action = ?"), append(args, f.Action)
		}
	}
	if f.Actor != "" {
		conds, args = append(conds, "actor = ?"), append(args, f.Actor)
	}
	if f.Target != "" {
		conds, args = append(conds, "target = ?"), append(args, f.Target)
	}
	if f.Outcome != "" {
		conds, args = append(conds, "outcome = ?"), append(args, f.Outcome)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "time >= ?"), append(args, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "time < ?"), append(args, nanos(f.Until))
	}
	if f.AfterID > 0 {
		conds, args = append(conds, "id > ?"), append(args, f.AfterID)
	}
	q := `SELECT ` + auditCols + ` FROM audit_events` + whereClause(conds) + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return list(t, "audit events", scanAudit, q, args...)
}

// ListAuditChanges uses the audit id as the cursor. Ids are commit order
// here: one writer connection runs the Updates one after another
// (writer.go), AUTOINCREMENT gives each event a higher id than every event
// before it, and a reader sees whole commits only. So an event that commits
// after a read has a higher id than everything that read could return.
func (t *tx) ListAuditChanges(after registry.ChangeCursor, limit int) ([]registry.AuditEvent, registry.ChangeCursor, error) {
	evs, err := t.ListAudit(registry.AuditFilter{AfterID: int64(after), Limit: max(limit, 0)})
	if err != nil {
		return nil, after, err
	}
	if len(evs) > 0 {
		after = registry.ChangeCursor(evs[len(evs)-1].ID)
	}
	return evs, after, nil
}

// --- Meta ---

func (t *tx) GetMeta(key string) (string, error) {
	var v string
	err := t.queryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("meta %s: %w", key, registry.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("meta %s: %w", key, err)
	}
	return v, nil
}

func (t *tx) SetMeta(key, value string) error {
	_, err := t.exec(`INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("setting meta %s: %w", key, err)
	}
	return nil
}
