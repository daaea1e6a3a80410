package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		&e.LastDecision, &e.LastDecisionBy, scanTime{P: &e.LastDecisionAt}, scanTime{P: &e.LastSeenAt}, &e.LastSeenFrom,
		scanBlob{P: &e.DeviceCodeHash}, scanTime{P: &e.DeviceCodeExpiresAt}, scanTime{P: &e.UpdatedAt}, scanTime{P: &e.CloneSuspectedAt})
	return e, err
}

func (t *tx) CreateEndpoint(e *registry.Endpoint) error {
	return t.insert("endpoint", e.ID, `INSERT INTO endpoints (`+endpointCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
		$21, $22, $23, $24, $25, $26)`,
		e.ID, e.AccountID, string(e.State), e.Type, e.Description, e.Hostname, e.OS, e.Version,
		e.KeyType, blob(e.PublicKey), e.KeyThumbprint, e.KeyID, e.KeyValueID, nanos(e.RegisteredAt),
		e.RegisteredFrom, e.ApprovedBy, nanos(e.ApprovedAt), e.LastDecision, e.LastDecisionBy,
		nanos(e.LastDecisionAt), nanos(e.LastSeenAt), e.LastSeenFrom,
		blob(e.DeviceCodeHash), nanos(e.DeviceCodeExpiresAt), nanos(e.UpdatedAt), nanos(e.CloneSuspectedAt))
}

func (t *tx) GetEndpoint(id string) (*registry.Endpoint, error) {
	return getOne(t, "endpoint", id, scanEndpoint, `SELECT `+endpointCols+` FROM endpoints WHERE id = $1`, id)
}

// ListEndpoints applies f as the SQLite store does (the conformance suite
// pins it). A nil AccountIDs or IDs matches anything; a non-nil empty one
// matches nothing. RegisteredBefore, RegisteredAfter, SeenBefore and
// SeenAfter are exclusive; an endpoint never seen counts as last seen at
// its RegisteredAt (SPEC E8). From and Text are applied in Go (Text with
// Go's Unicode case folding); Limit counts the endpoints that pass every
// filter. After is a cursor (ErrNotFound for an unknown id): rows after its
// (registered_at, id), a NULL registered_at first.
func (t *tx) ListEndpoints(f registry.EndpointFilter) ([]registry.Endpoint, error) {
	var conds []string
	var p params
	if f.AccountIDs != nil {
		if len(f.AccountIDs) == 0 {
			return nil, nil
		}
		conds = append(conds, "account_id = ANY("+p.add(f.AccountIDs)+")")
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, nil
		}
		conds = append(conds, "id = ANY("+p.add(f.IDs)+")")
	}
	if f.State != "" {
		conds = append(conds, "state = "+p.add(string(f.State)))
	}
	if f.Type != "" {
		conds = append(conds, "type = "+p.add(f.Type))
	}
	if f.KeyID != "" {
		conds = append(conds, "key_id = "+p.add(f.KeyID))
	}
	if !f.RegisteredBefore.IsZero() {
		conds = append(conds, "registered_at < "+p.add(nanos(f.RegisteredBefore)))
	}
	if !f.RegisteredAfter.IsZero() {
		conds = append(conds, "registered_at > "+p.add(nanos(f.RegisteredAfter)))
	}
	if !f.SeenBefore.IsZero() {
		conds = append(conds, "coalesce(last_seen_at, registered_at) < "+p.add(nanos(f.SeenBefore)))
	}
	if !f.SeenAfter.IsZero() {
		conds = append(conds, "coalesce(last_seen_at, registered_at) > "+p.add(nanos(f.SeenAfter)))
	}
	if f.After != "" {
		// The cursor's position, resolved here so that it reads the same
		// snapshot as the page.
		var at *int64
		err := t.queryRow(`SELECT registered_at FROM endpoints WHERE id = $1`, f.After).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("endpoint cursor %s: %w", f.After, registry.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("endpoint cursor %s: %w", f.After, err)
		}
		if at != nil {
			conds = append(conds, "(registered_at, id) > ("+p.add(*at)+"::bigint, "+p.add(f.After)+"::text)")
		} else {
			conds = append(conds, "(registered_at IS NOT NULL OR id > "+p.add(f.After)+")")
		}
	}
	postFilter := f.FiltersInGo()
	q := `SELECT ` + endpointCols + ` FROM endpoints` + whereClause(conds) + ` ORDER BY registered_at NULLS FIRST, id`
	if f.Limit > 0 && !postFilter {
		q += ` LIMIT ` + p.add(f.Limit)
	}
	es, err := list(t, "endpoints", scanEndpoint, q, p.args...)
	if err != nil || !postFilter {
		return es, err
	}
	return f.KeepMatching(es), nil
}

// UpdateEndpoint replaces every field but ID.
func (t *tx) UpdateEndpoint(e *registry.Endpoint) error {
	return t.guardedOne("updating endpoint", e.ID, `UPDATE endpoints SET account_id = $1, state = $2, type = $3,
		description = $4, hostname = $5, os = $6, version = $7, key_type = $8, public_key = $9,
		key_thumbprint = $10, key_id = $11, key_value_id = $12, registered_at = $13, registered_from = $14,
		approved_by = $15, approved_at = $16, last_decision = $17, last_decision_by = $18, last_decision_at = $19,
		last_seen_at = $20, last_seen_from = $21, device_code_hash = $22,
		device_code_expires_at = $23, updated_at = $24, clone_suspected_at = $26 WHERE id = $25`,
		e.AccountID, string(e.State), e.Type, e.Description, e.Hostname, e.OS, e.Version, e.KeyType,
		blob(e.PublicKey), e.KeyThumbprint, e.KeyID, e.KeyValueID, nanos(e.RegisteredAt),
		e.RegisteredFrom, e.ApprovedBy, nanos(e.ApprovedAt), e.LastDecision, e.LastDecisionBy,
		nanos(e.LastDecisionAt), nanos(e.LastSeenAt), e.LastSeenFrom,
		blob(e.DeviceCodeHash), nanos(e.DeviceCodeExpiresAt), nanos(e.UpdatedAt), e.ID, nanos(e.CloneSuspectedAt))
}

// stateConflict is TransitionEndpoint's error when the endpoint's state is
// not one of the states it may leave.
type stateConflict []registry.State

func (c stateConflict) Error() string {
	return fmt.Sprintf("state not in %v: %v", []registry.State(c), registry.ErrConflict)
}

func (c stateConflict) Unwrap() error { return registry.ErrConflict }

// TransitionEndpoint also sets UpdatedAt to d.At. An empty from allows no
// transition (ErrConflict for an existing endpoint). The state is checked
// in the UPDATE itself, so a decision is taken from the state it read.
func (t *tx) TransitionEndpoint(id string, from []registry.State, to registry.State, d registry.Decision) error {
	what := "transitioning endpoint " + id + " to " + string(to)
	failed := stateConflict(from) // formatted only if the transition fails
	const existsQuery = `SELECT 1 FROM endpoints WHERE id = $1`
	if len(from) == 0 {
		return t.whyNotUpdated(what, failed, existsQuery, id)
	}
	var p params
	set := `state = ` + p.add(string(to)) + `, last_decision = ` + p.add(d.Action) +
		`, last_decision_by = ` + p.add(d.By) + `, last_decision_at = ` + p.add(nanos(d.At)) +
		`, updated_at = ` + p.add(nanos(d.At))
	if to == registry.StateTrusted {
		set += `, approved_by = ` + p.add(d.By) + `, approved_at = ` + p.add(nanos(d.At))
	}
	where := `id = ` + p.add(id) + ` AND state = ANY(` + p.add(strs(from)) + `)`
	return t.updateIf(what, failed, existsQuery, id, `UPDATE endpoints SET `+set+` WHERE `+where, p.args...)
}

// SetEndpointCloneSuspected returns ErrNotFound when there is no such
// endpoint. It does not change UpdatedAt.
func (t *tx) SetEndpointCloneSuspected(id string, at time.Time) error {
	return t.execOne("marking endpoint", id, `UPDATE endpoints SET clone_suspected_at = $1 WHERE id = $2`, nanos(at), id)
}

// TouchEndpoint returns ErrNotFound when there is no such endpoint. It does
// not change UpdatedAt.
func (t *tx) TouchEndpoint(id string, at time.Time, from string) error {
	return t.execOne("touching endpoint", id,
		`UPDATE endpoints SET last_seen_at = $1, last_seen_from = $2 WHERE id = $3`, nanos(at), from, id)
}

// DeleteEndpoint returns ErrNotFound when there is no such endpoint. Its
// device codes and key change go with it (ON DELETE CASCADE); its refresh
// tokens stay (revoke them with RevokeRefreshTokensOf).
func (t *tx) DeleteEndpoint(id string) error {
	return t.execOne("deleting endpoint", id, `DELETE FROM endpoints WHERE id = $1`, id)
}

// CountEndpoints is 0 for an unknown account.
func (t *tx) CountEndpoints(accountID string) (int, error) {
	return t.count("endpoints of account", accountID, `SELECT count(*) FROM endpoints WHERE account_id = $1`, accountID)
}

// CountEndpointsByAccount counts through the index on state.
func (t *tx) CountEndpointsByAccount(state registry.State) (map[string]int, error) {
	rows, err := t.query(`SELECT account_id, count(*) FROM endpoints WHERE state = $1 GROUP BY account_id`, string(state))
	if err != nil {
		return nil, fmt.Errorf("counting %s endpoints: %w", state, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var acct string
		var n int64
		if err := rows.Scan(&acct, &n); err != nil {
			return nil, fmt.Errorf("counting %s endpoints: %w", state, err)
		}
		out[acct] = int(n)
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
		`SELECT coalesce((SELECT n FROM pending_counts WHERE scope = 'value:' || $1), 0)`, valueID)
}

// CountPendingByAccount counts the pending endpoints of an account, as
// CountPendingByKeyValue.
func (t *tx) CountPendingByAccount(accountID string) (int, error) {
	return t.count("pending endpoints of account", accountID,
		`SELECT coalesce((SELECT n FROM pending_counts WHERE scope = 'account:' || $1), 0)`, accountID)
}
