package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	return t.insert("refresh token", rt.ID, `INSERT INTO refresh_tokens (`+refreshCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		rt.ID, rt.Hash, rt.ChainID, rt.SubjectType, rt.SubjectID, rt.AccountID, rt.EndpointID,
		nanos(rt.IssuedAt), nanos(rt.ExpiresAt), nanos(rt.UsedAt), nanos(rt.RevokedAt), rt.ParentID)
}

// ConsumeRefreshToken treats a zero ExpiresAt as already expired. The
// consumption is one conditional UPDATE: across brokers a token is
// consumed once.
func (t *tx) ConsumeRefreshToken(hash []byte, at time.Time) (*registry.RefreshToken, error) {
	tag, err := t.exec(`UPDATE refresh_tokens SET used_at = $1
		WHERE hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3`,
		nanos(at), hash, nanos(at))
	if err != nil {
		return nil, fmt.Errorf("consuming refresh token: %w", err)
	}
	rt, err := scanRefresh(t.queryRow(`SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("consuming refresh token: %w", registry.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("consuming refresh token: %w", err)
	}
	if tag.RowsAffected() == 0 {
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
		`SELECT `+refreshCols+` FROM refresh_tokens WHERE parent_id = $1`, parentID)
}

func (t *tx) RevokeRefreshChain(chainID string, at time.Time) error {
	_, err := t.exec(`UPDATE refresh_tokens SET revoked_at = $1 WHERE chain_id = $2 AND revoked_at IS NULL`,
		nanos(at), chainID)
	if err != nil {
		return fmt.Errorf("revoking refresh chain %s: %w", chainID, err)
	}
	return nil
}

func (t *tx) RevokeRefreshTokensOf(subjectType, subjectID string, at time.Time) error {
	q := `UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND (subject_type = $2 AND subject_id = $3)`
	args := []any{nanos(at), subjectType, subjectID}
	if subjectType == registry.SubjectEndpoint {
		q = `UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND
			((subject_type = $2 AND subject_id = $3) OR (subject_type = $4 AND endpoint_id = $5))`
		args = append(args, registry.SubjectUser, subjectID)
	}
	if _, err := t.exec(q, args...); err != nil {
		return fmt.Errorf("revoking refresh tokens of %s %s: %w", subjectType, subjectID, err)
	}
	return nil
}

// PurgeRefreshTokens counts a token without an expiry as expired, as
// ConsumeRefreshToken does.
func (t *tx) PurgeRefreshTokens(before time.Time) (int, error) {
	tag, err := t.exec(`DELETE FROM refresh_tokens WHERE expires_at IS NULL OR expires_at < $1`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purging refresh tokens: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
