package postgres

import (
	"fmt"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- API keys ---

const apiKeyCols = `id, account_id, type, name, description, key_group, active, allow_unauthenticated,
	allow_untrusted_endpoints, auto_trust, full_api_access, expires_at, allowed_ips, run_as_user_id,
	run_as_role_id, predefined, created_by, created_at, updated_at`

func scanAPIKey(r rowScanner) (registry.APIKey, error) {
	var k registry.APIKey
	err := r.Scan(&k.ID, &k.AccountID, &k.Type, &k.Name, &k.Description, &k.Group, &k.Active,
		&k.AllowUnauthenticated, &k.AllowUntrustedEndpoints, &k.AutoTrust, &k.FullAPIAccess,
		scanTime{P: &k.ExpiresAt}, scanPrefixes{P: &k.AllowedIPs}, &k.RunAsUserID, &k.RunAsRoleID,
		&k.Predefined, &k.CreatedBy, scanTime{P: &k.CreatedAt}, scanTime{P: &k.UpdatedAt})
	return k, err
}

func (t *tx) CreateAPIKey(k *registry.APIKey) error {
	return t.insert("API key", k.ID, `INSERT INTO api_keys (`+apiKeyCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		k.ID, k.AccountID, string(k.Type), k.Name, k.Description, k.Group, k.Active,
		k.AllowUnauthenticated, k.AllowUntrustedEndpoints, k.AutoTrust, k.FullAPIAccess,
		nanos(k.ExpiresAt), prefixes(k.AllowedIPs), k.RunAsUserID, k.RunAsRoleID, k.Predefined,
		k.CreatedBy, nanos(k.CreatedAt), nanos(k.UpdatedAt))
}

func (t *tx) GetAPIKey(id string) (*registry.APIKey, error) {
	return getOne(t, "API key", id, scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`, id)
}

func (t *tx) ListAPIKeys(accountID string) ([]registry.APIKey, error) {
	if accountID == "" {
		return list(t, "API keys", scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at NULLS FIRST, id`)
	}
	return list(t, "API keys", scanAPIKey,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE account_id = $1 ORDER BY created_at NULLS FIRST, id`, accountID)
}

// UpdateAPIKey replaces every field but ID and CreatedAt.
func (t *tx) UpdateAPIKey(k *registry.APIKey) error {
	return t.guardedOne("updating API key", k.ID, `UPDATE api_keys SET account_id = $1, type = $2, name = $3,
		description = $4, key_group = $5, active = $6, allow_unauthenticated = $7,
		allow_untrusted_endpoints = $8, auto_trust = $9, full_api_access = $10, expires_at = $11,
		allowed_ips = $12, run_as_user_id = $13, run_as_role_id = $14, predefined = $15, created_by = $16,
		updated_at = $17 WHERE id = $18`,
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
		`SELECT `+apiKeyCols+` FROM api_keys WHERE run_as_user_id = $1 ORDER BY created_at NULLS FIRST, id`, userID)
}

// DeleteAPIKey keeps the public ids of the key's values, deletes the
// values, then the key. Endpoints keep KeyID and KeyValueID (neither is a
// foreign key).
func (t *tx) DeleteAPIKey(id string) error {
	if _, err := t.exec(`INSERT INTO deleted_key_values (public_id, key_id, account_id)
		SELECT v.public_id, v.key_id, k.account_id FROM key_values v JOIN api_keys k ON k.id = v.key_id
		WHERE v.key_id = $1
		ON CONFLICT (public_id) DO UPDATE SET key_id = excluded.key_id, account_id = excluded.account_id`, id); err != nil {
		return fmt.Errorf("keeping the public ids of API key %s: %w", id, err)
	}
	if _, err := t.exec(`DELETE FROM key_values WHERE key_id = $1`, id); err != nil {
		return fmt.Errorf("deleting values of API key %s: %w", id, err)
	}
	return t.execOne("deleting API key", id, `DELETE FROM api_keys WHERE id = $1`, id)
}

func (t *tx) GetDeletedKeyValue(publicID string) (*registry.DeletedKeyValue, error) {
	return getOne(t, "deleted key value", publicID, func(r rowScanner) (registry.DeletedKeyValue, error) {
		var d registry.DeletedKeyValue
		err := r.Scan(&d.PublicID, &d.KeyID, &d.AccountID)
		return d, err
	}, `SELECT public_id, key_id, account_id FROM deleted_key_values WHERE public_id = $1`, publicID)
}

// CountAPIKeys is 0 for an unknown account.
func (t *tx) CountAPIKeys(accountID string) (int, error) {
	return t.count("API keys of account", accountID, `SELECT count(*) FROM api_keys WHERE account_id = $1`, accountID)
}
