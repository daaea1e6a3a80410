package postgres

import (
	"fmt"
	"strings"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- Audit ---

const auditCols = `id, time, actor, action, account_id, target, outcome, remote, detail`

func scanAudit(r rowScanner) (registry.AuditEvent, error) {
	var e registry.AuditEvent
	err := r.Scan(&e.ID, scanTime{P: &e.Time}, &e.Actor, &e.Action, &e.AccountID, &e.Target, &e.Outcome,
		&e.Remote, scanJSON{P: &e.Detail})
	return e, err
}

// AppendAudit ignores e.ID on input and sets it to the new id, which is
// also the event's place in the commit order (the package doc says why).
func (t *tx) AppendAudit(e *registry.AuditEvent) error {
	var id int64
	t.writing()
	err := t.queryRow(`INSERT INTO audit_events (time, actor, action, account_id, target, outcome, remote, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		nanos(e.Time), e.Actor, e.Action, e.AccountID, e.Target, e.Outcome, e.Remote, jsonText{V: e.Detail}).Scan(&id)
	if err != nil {
		return fmt.Errorf("appending audit event %s: %w", e.Action, err)
	}
	e.ID = id
	t.lastAudit = max(t.lastAudit, id)
	return nil
}

// ListAudit applies f. A nil AccountIDs matches anything; a non-nil empty
// one matches nothing. Since is inclusive; Until, AfterID and BeforeID are
// exclusive.
func (t *tx) ListAudit(f registry.AuditFilter) ([]registry.AuditEvent, error) {
	var conds []string
	var p params
	if f.AccountIDs != nil {
		if len(f.AccountIDs) == 0 {
			return nil, nil
		}
		conds = append(conds, "account_id = ANY("+p.add(f.AccountIDs)+")")
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			// starts_with, not LIKE, so '%' and '_' in the prefix are literal.
			conds = append(conds, "starts_with(action, "+p.add(f.Action)+")")
		} else {
			conds = append(conds, "action = "+p.add(f.Action))
		}
	}
	if f.Actor != "" {
		conds = append(conds, "actor = "+p.add(f.Actor))
	}
	if f.Target != "" {
		conds = append(conds, "target = "+p.add(f.Target))
	}
	if f.Endpoint != "" {
		// Both spellings of the target: rows before issue 12 named a
		// registration by the bare id.
		conds = append(conds, "(target IN ("+p.add("endpoint:"+f.Endpoint)+", "+p.add(f.Endpoint)+
			") OR actor = "+p.add("endpoint:"+f.Endpoint)+")")
	}
	if f.Outcome != "" {
		conds = append(conds, "outcome = "+p.add(f.Outcome))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "time >= "+p.add(nanos(f.Since)))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time < "+p.add(nanos(f.Until)))
	}
	if f.AfterID > 0 {
		conds = append(conds, "id > "+p.add(f.AfterID))
	}
	if f.BeforeID > 0 {
		conds = append(conds, "id < "+p.add(f.BeforeID))
	}
	order := ` ORDER BY id`
	if f.Desc {
		order = ` ORDER BY id DESC`
	}
	q := `SELECT ` + auditCols + ` FROM audit_events` + whereClause(conds) + order
	if f.Limit > 0 {
		q += ` LIMIT ` + p.add(f.Limit)
	}
	return list(t, "audit events", scanAudit, q, p.args...)
}

// ListAuditChanges uses the audit id as the cursor. Ids are commit order
// here: only Updates append, each holds the store's write lock from before
// its first statement until its commit (postgres.go), and the id sequence
// has no cache, so every event gets a higher id than every event committed
// before it, and an event not yet committed holds a higher id than every
// event already committed. A reader sees whole commits only. So an event
// that commits after a read has a higher id than everything that read
// could return.
func (t *tx) ListAuditChanges(after registry.ChangeCursor, limit int) ([]registry.AuditEvent, registry.ChangeCursor, error) {
	evs, err := t.ListAudit(registry.AuditFilter{AfterID: int64(after), Limit: max(limit, 0)})
	if err != nil {
		return nil, after, err
	}
	for i := range evs {
		evs[i].Cursor = registry.ChangeCursor(evs[i].ID)
	}
	if len(evs) > 0 {
		after = evs[len(evs)-1].Cursor
	}
	return evs, after, nil
}

// LastChangeCursor is the highest committed audit id (0 for an empty log).
// Ids are taken only under the lock that serialises Updates, so an Update
// still open when this runs holds ids above every committed one: its events
// come after the cursor returned, and none committed before it does.
func (t *tx) LastChangeCursor() (registry.ChangeCursor, error) {
	var id int64
	if err := t.queryRow(`SELECT COALESCE(MAX(id), 0) FROM audit_events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("reading the end of the audit log: %w", err)
	}
	return registry.ChangeCursor(id), nil
}
