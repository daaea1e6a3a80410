package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- Endpoints ---

const endpointCols = `id, account_id, state, type, description, hostname, os, version, key_type, public_key,
	key_thumbprint, key_id, key_value_id, registered_at, registered_from, approved_by, approved_at,
	last_decision, last_decision_by, last_decision_at,
	last_seen_at, last_seen_from, device_code_hash, device_code_expires_at, updated_at, clone_suspected_at`

func scanEndpoint(r rowScanner) (registry.Endpoint, error) {
	var e registry.Endpoint
	err := r.Scan(&e.ID, &e.AccountID, &e.State, &e.Type, &e.Description, &e.Hostname, &e.OS,
		&e.Version, &e.KeyType, scanBlob{P: &e.PublicKey}, &e.KeyThumbprint, &e.KeyID, &e.KeyValueID,
		scanTime{P: &e.RegisteredAt}, &e.RegisteredFrom, &e.ApprovedBy, scanTime{P: &e.ApprovedAt},
		&e.LastDecision, &e.LastDecisionBy, scanTime{P: &e.LastDecisionAt}, scanTime{P: &e.LastSeenAt}, &e.LastSeenFrom, scanBlob{P: &e.DeviceCodeHash},
		scanTime{P: &e.DeviceCodeExpiresAt}, scanTime{P: &e.UpdatedAt}, scanTime{P: &e.CloneSuspectedAt})
	return e, err
}

func (t *tx) CreateEndpoint(e *registry.Endpoint) error {
	return t.insert("endpoint", e.ID, `INSERT INTO endpoints (`+endpointCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.AccountID, string(e.State), e.Type, e.Description, e.Hostname, e.OS, e.Version,
		e.KeyType, blob(e.PublicKey), e.KeyThumbprint, e.KeyID, e.KeyValueID, nanos(e.RegisteredAt),
		e.RegisteredFrom, e.ApprovedBy, nanos(e.ApprovedAt), e.LastDecision, e.LastDecisionBy,
		nanos(e.LastDecisionAt), nanos(e.LastSeenAt), e.LastSeenFrom,
		blob(e.DeviceCodeHash), nanos(e.DeviceCodeExpiresAt), nanos(e.UpdatedAt), nanos(e.CloneSuspectedAt))
}

func (t *tx) GetEndpoint(id string) (*registry.Endpoint, error) {
	return getOne(t, "endpoint", id, scanEndpoint, `SELECT `+endpointCols+` FROM endpoints WHERE id = ?`, id)
}

// ListEndpoints applies f. A nil AccountIDs or IDs matches anything; a
// non-nil empty one matches nothing. RegisteredBefore, RegisteredAfter,
// SeenBefore and SeenAfter are exclusive; an endpoint never seen (zero
// LastSeenAt) counts as last seen at its RegisteredAt, so SeenBefore finds
// endpoints registered long ago and silent since (SPEC E8). From and Text
// are applied in Go (Text so that case folding is Unicode's, not SQLite's
// ASCII-only lower()); Limit counts the endpoints that pass every filter.
// After is a cursor (ErrNotFound for an unknown id): rows after its
// (registered_at, id).
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
	if f.After != "" {
		// The cursor's position, resolved here so that it reads the same
		// snapshot as the page. ORDER BY puts a NULL registered_at first.
		var at sql.NullInt64
		err := t.queryRow(`SELECT registered_at FROM endpoints WHERE id = ?`, f.After).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("endpoint cursor %s: %w", f.After, registry.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("endpoint cursor %s: %w", f.After, err)
		}
		if at.Valid {
			conds, args = append(conds, "(registered_at, id) > (?, ?)"), append(args, at.Int64, f.After)
		} else {
			conds, args = append(conds, "(registered_at IS NOT NULL OR id > ?)"), append(args, f.After)
		}
	}
	postFilter := f.FiltersInGo()
	q := `SELECT ` + endpointCols + ` FROM endpoints` + whereClause(conds) + ` ORDER BY registered_at, id`
	if f.Limit > 0 && !postFilter {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	es, err := list(t, "endpoints", scanEndpoint, q, args...)
	if err != nil || !postFilter {
		return es, err
	}
	return f.KeepMatching(es), nil
}

// UpdateEndpoint replaces every field but ID.
func (t *tx) UpdateEndpoint(e *registry.Endpoint) error {
	return t.execOne("updating endpoint", e.ID, `UPDATE endpoints SET account_id = ?, state = ?, type = ?,
		description = ?, hostname = ?, os = ?, version = ?, key_type = ?, public_key = ?,
		key_thumbprint = ?, key_id = ?, key_value_id = ?, registered_at = ?, registered_from = ?,
		approved_by = ?, approved_at = ?, last_decision = ?, last_decision_by = ?, last_decision_at = ?,
		last_seen_at = ?, last_seen_from = ?, device_code_hash = ?,
		device_code_expires_at = ?, updated_at = ?, clone_suspected_at = ? WHERE id = ?`,
		e.AccountID, string(e.State), e.Type, e.Description, e.Hostname, e.OS, e.Version, e.KeyType,
		blob(e.PublicKey), e.KeyThumbprint, e.KeyID, e.KeyValueID, nanos(e.RegisteredAt),
		e.RegisteredFrom, e.ApprovedBy, nanos(e.ApprovedAt), e.LastDecision, e.LastDecisionBy,
		nanos(e.LastDecisionAt), nanos(e.LastSeenAt), e.LastSeenFrom,
		blob(e.DeviceCodeHash), nanos(e.DeviceCodeExpiresAt), nanos(e.UpdatedAt), nanos(e.CloneSuspectedAt), e.ID)
}

// stateConflict is TransitionEndpoint's error when the endpoint's state is
// not one of the states it may leave.
type stateConflict []registry.State

// TransitionEndpoint also sets UpdatedAt to d.At. An empty from allows no
// transition (ErrConflict for an existing endpoint).
func (t *tx) TransitionEndpoint(id string, from []registry.State, to registry.State, d registry.Decision) error {
	what := "transitioning endpoint " + id + " to " + string(to)
	failed := stateConflict(from) // formatted only if the transition fails
	const existsQuery = `SELECT 1 FROM endpoints WHERE id = ?`
	if len(from) == 0 {
		return t.whyNotUpdated(what, failed, existsQuery, id)
	}
	c, a := in("state", from)
	approval := ""
	args := []any{string(to), d.Action, d.By, nanos(d.At), nanos(d.At)}
	if to == registry.StateTrusted {
		approval = `, approved_by = ?, approved_at = ?`
		args = append(args, d.By, nanos(d.At))
	}
	args = append(append(args, id), a...)
	return t.updateIf(what, failed, existsQuery, id,
		`UPDATE endpoints SET state = ?, last_decision = ?, last_decision_by = ?, last_decision_at = ?,
		updated_at = ?`+approval+` WHERE id = ? AND `+c, args...)
}

// SetEndpointCloneSuspected returns ErrNotFound when there is no such
// endpoint. It does not change UpdatedAt.
func (t *tx) SetEndpointCloneSuspected(id string, at time.Time) error {
	return t.execOne("marking endpoint", id, `UPDATE endpoints SET clone_suspected_at = ? WHERE id = ?`, nanos(at), id)
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

// CountEndpointsByAccount counts through the index on state.
func (t *tx) CountEndpointsByAccount(state registry.State) (map[string]int, error) {
	rows, err := t.query(`SELECT account_id, count(*) FROM endpoints WHERE state = ? GROUP BY account_id`, string(state))
	if err != nil {
		return nil, fmt.Errorf("counting %s endpoints: %w", state, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var acct string
		var n int
		if err := rows.Scan(&acct, &n); err != nil {
			return nil, fmt.Errorf("counting %s endpoints: %w", state, err)
		}
		out[acct] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting %s endpoints: %w", state, err)
	}
	return out, nil
}

// CountPendingByKeyValue counts the pending endpoints registered with a key
// value: one row of pending_counts, kept by triggers (migration).
func (t *tx) CountPendingByKeyValue(valueID string) (int, error) {
	return t.count("pending endpoints of key value", valueID,
		`SELECT coalesce((SELECT n FROM pending_counts WHERE scope = 'value:' || ?), 0)`, valueID)
}

// CountPendingByAccount counts the pending endpoints of an account, as
// CountPendingByKeyValue.
func (t *tx) CountPendingByAccount(accountID string) (int, error) {
	return t.count("pending endpoints of account", accountID,
		`SELECT coalesce((SELECT n FROM pending_counts WHERE scope = 'account:' || ?), 0)`, accountID)
}
