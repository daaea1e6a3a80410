package sqlite

import (
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// The DPoP proofs and sessions of registry.OAuthTx (migration 0004_login).

// --- DPoP proofs ---

// RecordDPoPProof inserts the id unless it is there: one statement, so two
// brokers recording the same proof at once cannot both succeed.
func (t *tx) RecordDPoPProof(id string, expiresAt time.Time) error {
	res, err := t.exec(`INSERT INTO dpop_proofs (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
		id, nanos(expiresAt))
	if err != nil {
		return fmt.Errorf("recording DPoP proof: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("recording DPoP proof: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("recording DPoP proof: seen before: %w", registry.ErrConflict)
	}
	return nil
}

// PurgeDPoPProofs counts a proof without an expiry as expired.
func (t *tx) PurgeDPoPProofs(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM dpop_proofs WHERE expires_at IS NULL OR expires_at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purging DPoP proofs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purging DPoP proofs: %w", err)
	}
	return int(n), nil
}

// --- Sessions: chains of refresh tokens ---

// chainCols summarises the rows of one chain (GROUP BY chain_id); the
// subject and account are the same on every token of a chain. The last
// column counts the tokens live at the time bound to the first parameter.
const chainCols = `chain_id, min(subject_type), min(subject_id), min(account_id), max(endpoint_id),
	min(issued_at), max(issued_at), max(expires_at), max(revoked_at IS NOT NULL),
	sum(used_at IS NULL AND revoked_at IS NULL AND expires_at > ?)`

func scanChain(r rowScanner) (registry.RefreshChain, error) {
	var c registry.RefreshChain
	var revoked, live int64
	err := r.Scan(&c.ChainID, &c.SubjectType, &c.SubjectID, &c.AccountID, &c.EndpointID,
		scanTime{P: &c.StartedAt}, scanTime{P: &c.RefreshedAt}, scanTime{P: &c.ExpiresAt}, &revoked, &live)
	c.Revoked, c.Live = revoked > 0, live > 0
	return c, err
}

func (t *tx) ListRefreshChains(subjectType, subjectID string, at time.Time) ([]registry.RefreshChain, error) {
	return list(t, "refresh chains", scanChain, `SELECT `+chainCols+` FROM refresh_tokens
		WHERE subject_type = ? AND subject_id = ? GROUP BY chain_id
		HAVING sum(used_at IS NULL AND revoked_at IS NULL AND expires_at > ?) > 0
		ORDER BY min(issued_at), chain_id`,
		nanos(at), subjectType, subjectID, nanos(at))
}

func (t *tx) GetRefreshChain(chainID string, at time.Time) (*registry.RefreshChain, error) {
	return getOne(t, "refresh chain", chainID, scanChain, `SELECT `+chainCols+` FROM refresh_tokens
		WHERE chain_id = ? GROUP BY chain_id`, nanos(at), chainID)
}

func (t *tx) RefreshChainRevoked(chainID string) (bool, error) {
	ok, err := t.exists(`SELECT 1 FROM refresh_tokens WHERE chain_id = ? AND revoked_at IS NOT NULL LIMIT 1`, chainID)
	if err != nil {
		return false, fmt.Errorf("looking up refresh chain %s: %w", chainID, err)
	}
	return ok, nil
}
