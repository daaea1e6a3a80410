package sqlite

import (
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

const keyValueCols = `id, key_id, public_id, secret_hash, description, created_at, expires_at, revoked_at,
	last_used_at, last_used_from, use_count, use_limit, edge_device`

func scanKeyValue(r rowScanner) (registry.KeyValue, error) {
	var v registry.KeyValue
	err := r.Scan(&v.ID, &v.KeyID, &v.PublicID, scanBlob{P: &v.SecretHash}, &v.Description,
		scanTime{P: &v.CreatedAt}, scanTime{P: &v.ExpiresAt}, scanTime{P: &v.RevokedAt}, scanTime{P: &v.LastUsedAt},
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
