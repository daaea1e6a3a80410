package postgres

import (
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// The DPoP proofs and sessions of registry.OAuthTx.

// --- DPoP proofs ---

// RecordDPoPProof inserts the id unless it is there: one statement, so two
// brokers recording the same proof at once cannot both succeed.
func (t *tx) RecordDPoPProof(id string, expiresAt time.Time) error {
	tag, err := t.exec(`INSERT INTO dpop_proofs (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		id, nanos(expiresAt))
	if err != nil {
		return fmt.Errorf("recording DPoP proof: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("recording DPoP proof: seen before: %w", registry.ErrConflict)
	}
	return nil
}

// PurgeDPoPProofs counts a proof without an expiry as expired.
func (t *tx) PurgeDPoPProofs(before time.Time) (int, error) {
	tag, err := t.exec(`DELETE FROM dpop_proofs WHERE expires_at IS NULL OR expires_at < $1`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purging DPoP proofs: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// --- Sessions: chains of refresh tokens ---

// chainCols summarises the rows of one chain (GROUP BY chain_id); the
// subject and account are the same on every token of a chain. The last
// column counts the tokens live at the time bound to $1.
const chainCols = `chain_id, min(subject_type), min(subject_id), min(account_id), max(endpoint_id),
	min(issued_at), max(issued_at), max(expires_at), bool_or(revoked_at IS NOT NULL),
	count(*) FILTER (WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > $1)`

func scanChain(r rowScanner) (registry.RefreshChain, error) {
	var c registry.RefreshChain
	var live int64
	err := r.Scan(&c.ChainID, &c.SubjectType, &c.SubjectID, &c.AccountID, &c.EndpointID,
		scanTime{P: &c.StartedAt}, scanTime{P: &c.RefreshedAt}, scanTime{P: &c.ExpiresAt}, &c.Revoked, &live)
	c.Live = live > 0
	return c, err
}

func (t *tx) ListRefreshChains(subjectType, subjectID string, at time.Time) ([]registry.RefreshChain, error) {
	return list(t, "refresh chains", scanChain, `SELECT `+chainCols+` FROM refresh_tokens
		WHERE subject_type = $2 AND subject_id = $3 GROUP BY chain_id
		HAVING count(*) FILTER (WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > $1) > 0
		ORDER BY min(issued_at) NULLS FIRST, chain_id`,
		nanos(at), subjectType, subjectID)
}

func (t *tx) GetRefreshChain(chainID string, at time.Time) (*registry.RefreshChain, error) {
	return getOne(t, "refresh chain", chainID, scanChain, `SELECT `+chainCols+` FROM refresh_tokens
		WHERE chain_id = $2 GROUP BY chain_id`, nanos(at), chainID)
}

func (t *tx) RefreshChainRevoked(chainID string) (bool, error) {
	ok, err := t.exists(`SELECT 1 FROM refresh_tokens WHERE chain_id = $1 AND revoked_at IS NOT NULL LIMIT 1`, chainID)
	if err != nil {
		return false, fmt.Errorf("looking up refresh chain %s: %w", chainID, err)
	}
	return ok, nil
}
