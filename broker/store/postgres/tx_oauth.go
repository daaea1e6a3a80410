package postgres

import (
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// The OAuthTx part of registry.Tx.

// --- Device codes ---

const deviceCodeCols = `hash, endpoint_id, account_id, key_type, public_key, key_thumbprint, interval_ns,
	issued_at, expires_at, used_at, last_poll_at`

func scanDeviceCode(r rowScanner) (registry.DeviceCode, error) {
	var dc registry.DeviceCode
	var interval int64
	err := r.Scan(scanBlob{P: &dc.Hash}, &dc.EndpointID, &dc.AccountID, &dc.KeyType, scanBlob{P: &dc.PublicKey},
		&dc.KeyThumbprint, &interval, scanTime{P: &dc.IssuedAt}, scanTime{P: &dc.ExpiresAt}, scanTime{P: &dc.UsedAt},
		scanTime{P: &dc.LastPollAt})
	dc.Interval = time.Duration(interval)
	return dc, err
}

// PutDeviceCode replaces the code of the same endpoint and key thumbprint;
// ErrNotFound when the endpoint does not exist (foreign key).
func (t *tx) PutDeviceCode(dc *registry.DeviceCode) error {
	if len(dc.Hash) == 0 {
		return fmt.Errorf("storing device code of %s: empty hash", dc.EndpointID)
	}
	if _, err := t.exec(`DELETE FROM device_codes WHERE endpoint_id = $1 AND key_thumbprint = $2`,
		dc.EndpointID, dc.KeyThumbprint); err != nil {
		return fmt.Errorf("storing device code of %s: %w", dc.EndpointID, err)
	}
	_, err := t.guarded(`INSERT INTO device_codes (`+deviceCodeCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		dc.Hash, dc.EndpointID, dc.AccountID, dc.KeyType, blob(dc.PublicKey), dc.KeyThumbprint,
		int64(dc.Interval), nanos(dc.IssuedAt), nanos(dc.ExpiresAt), nanos(dc.UsedAt), nanos(dc.LastPollAt))
	if err != nil {
		return fmt.Errorf("storing device code of %s: %w", dc.EndpointID, err)
	}
	return nil
}

func (t *tx) GetDeviceCode(hash []byte) (*registry.DeviceCode, error) {
	return getOne(t, "device code", "", scanDeviceCode, `SELECT `+deviceCodeCols+` FROM device_codes WHERE hash = $1`, hash)
}

// byHash runs a conditional UPDATE of the device code with this hash.
func (t *tx) byHash(what string, hash []byte, query string, args ...any) error {
	return t.updateIf(what, registry.ErrConflict, `SELECT 1 FROM device_codes WHERE hash = $1`, hash, query, args...)
}

func (t *tx) RecordDevicePoll(hash []byte, at, notAfter time.Time) error {
	return t.byHash("recording device poll", hash,
		`UPDATE device_codes SET last_poll_at = $1 WHERE hash = $2 AND (last_poll_at IS NULL OR last_poll_at <= $3)`,
		nanos(at), hash, nanos(notAfter))
}

// ConsumeDeviceCode treats a zero ExpiresAt as already expired.
func (t *tx) ConsumeDeviceCode(hash []byte, at time.Time) error {
	return t.byHash("consuming device code", hash,
		`UPDATE device_codes SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $3`,
		nanos(at), hash, nanos(at))
}

// --- Key changes ---

const keyChangeCols = `endpoint_id, account_id, key_type, public_key, key_thumbprint, key_id, key_value_id,
	description, hostname, os, version, requested_at, requested_from`

func scanKeyChange(r rowScanner) (registry.KeyChange, error) {
	var kc registry.KeyChange
	err := r.Scan(&kc.EndpointID, &kc.AccountID, &kc.KeyType, scanBlob{P: &kc.PublicKey}, &kc.KeyThumbprint,
		&kc.KeyID, &kc.KeyValueID, &kc.Description, &kc.Hostname, &kc.OS, &kc.Version,
		scanTime{P: &kc.RequestedAt}, &kc.RequestedFrom)
	return kc, err
}

// CreateKeyChange never replaces a pending change: the insert does nothing
// when the endpoint has one, and that is the conflict. A missing endpoint
// fails the foreign key: ErrNotFound.
func (t *tx) CreateKeyChange(kc *registry.KeyChange) error {
	tag, err := t.guarded(`INSERT INTO endpoint_key_changes (`+keyChangeCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (endpoint_id) DO NOTHING`,
		kc.EndpointID, kc.AccountID, kc.KeyType, blob(kc.PublicKey), kc.KeyThumbprint, kc.KeyID, kc.KeyValueID,
		kc.Description, kc.Hostname, kc.OS, kc.Version, nanos(kc.RequestedAt), kc.RequestedFrom)
	if err != nil {
		return fmt.Errorf("storing key change of %s: %w", kc.EndpointID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("storing key change of %s: one is pending: %w", kc.EndpointID, registry.ErrConflict)
	}
	return nil
}

func (t *tx) GetKeyChange(endpointID string) (*registry.KeyChange, error) {
	return getOne(t, "key change of endpoint", endpointID, scanKeyChange,
		`SELECT `+keyChangeCols+` FROM endpoint_key_changes WHERE endpoint_id = $1`, endpointID)
}

func (t *tx) ListKeyChanges(accountIDs []string) ([]registry.KeyChange, error) {
	q := `SELECT ` + keyChangeCols + ` FROM endpoint_key_changes`
	var args []any
	if accountIDs != nil {
		if len(accountIDs) == 0 {
			return nil, nil
		}
		q += ` WHERE account_id = ANY($1)`
		args = append(args, accountIDs)
	}
	return list(t, "key changes", scanKeyChange, q+` ORDER BY requested_at NULLS FIRST, endpoint_id`, args...)
}

func (t *tx) DeleteKeyChange(endpointID, thumbprint string) error {
	return t.updateIf("deleting key change of endpoint "+endpointID, registry.ErrConflict,
		`SELECT 1 FROM endpoint_key_changes WHERE endpoint_id = $1`, endpointID,
		`DELETE FROM endpoint_key_changes WHERE endpoint_id = $1 AND ($2 = '' OR key_thumbprint = $2)`,
		endpointID, thumbprint)
}

func (t *tx) RebindDeviceCode(endpointID, from, to string) error {
	if from != to {
		if _, err := t.exec(`DELETE FROM device_codes WHERE endpoint_id = $1 AND key_thumbprint = $2`,
			endpointID, to); err != nil {
			return fmt.Errorf("rebinding device code of %s: %w", endpointID, err)
		}
	}
	return t.execOne("rebinding device code of endpoint", endpointID,
		`UPDATE device_codes SET key_thumbprint = $1 WHERE endpoint_id = $2 AND key_thumbprint = $3`, to, endpointID, from)
}

// --- Token state ---

func (t *tx) GetRefreshToken(hash []byte) (*registry.RefreshToken, error) {
	return getOne(t, "refresh token", "", scanRefresh, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1`, hash)
}

func (t *tx) RevokeAccessToken(jti string, expiresAt time.Time) error {
	_, err := t.exec(`INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`,
		jti, nanos(expiresAt))
	if err != nil {
		return fmt.Errorf("revoking access token %s: %w", jti, err)
	}
	return nil
}

func (t *tx) AccessTokenRevoked(jti string) (bool, error) {
	ok, err := t.exists(`SELECT 1 FROM revoked_access_tokens WHERE jti = $1`, jti)
	if err != nil {
		return false, fmt.Errorf("looking up revoked access token %s: %w", jti, err)
	}
	return ok, nil
}
