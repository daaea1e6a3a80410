package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- Refresh tokens ---

const refreshCols = `id, hash, chain_id, subject_type, subject_id, account_id, endpoint_id, issued_at,
	expires_at, used_at, revoked_at, parent_id`

func scanRefresh(r rowScanner) (registry.RefreshToken, error) {
	var rt registry.RefreshToken
	err := r.Scan(&rt.ID, scanBlob{P: &rt.Hash}, &rt.ChainID, &rt.SubjectType, &rt.SubjectID, &rt.AccountID,
		&rt.EndpointID, scanTime{P: &rt.IssuedAt}, scanTime{P: &rt.ExpiresAt}, scanTime{P: &rt.UsedAt},
		scanTime{P: &rt.RevokedAt}, &rt.ParentID)
	return rt, err
}

// CreateRefreshToken returns ErrConflict on a duplicate id or hash.
func (t *tx) CreateRefreshToken(rt *registry.RefreshToken) error {
	if len(rt.Hash) == 0 {
		return fmt.Errorf("creating refresh token %s: empty hash", rt.ID)
	}
	return t.insert("refresh token", rt.ID, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rt.ID, rt.Hash, rt.ChainID, rt.SubjectType, rt.SubjectID, rt.AccountID, rt.EndpointID,
		nanos(rt.IssuedAt), nanos(rt.ExpiresAt), nanos(rt.UsedAt), nanos(rt.RevokedAt), rt.ParentID)
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

// ListRefreshSuccessors uses index refresh_tokens_parent.
func (t *tx) ListRefreshSuccessors(parentID string) ([]registry.RefreshToken, error) {
	if parentID == "" {
		return nil, nil // the first tokens of every chain: none is anyone's successor
	}
	return list(t, "refresh token successors", scanRefresh,
		`SELECT `+refreshCols+` FROM refresh_tokens WHERE parent_id = ?`, parentID)
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
