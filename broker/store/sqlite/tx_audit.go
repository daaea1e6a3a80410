package sqlite

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

// AppendAudit ignores e.ID on input and sets it to the new, increasing id.
func (t *tx) AppendAudit(e *registry.AuditEvent) error {
	res, err := t.exec(`INSERT INTO audit_events (time, actor, action, account_id, target, outcome, remote, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		nanos(e.Time), e.Actor, e.Action, e.AccountID, e.Target, e.Outcome, e.Remote, jsonText{V: e.Detail})
	if err != nil {
		return fmt.Errorf("appending audit event %s: %w", e.Action, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("appending audit event %s: %w", e.Action, err)
	}
	e.ID = id
	return nil
}

// ListAudit applies f. A nil AccountIDs matches anything; a non-nil empty
// one matches nothing. Since is inclusive; Until, AfterID and BeforeID are
// exclusive.
func (t *tx) ListAudit(f registry.AuditFilter) ([]registry.AuditEvent, error) {
	var conds []string
	var args []any
	if f.AccountIDs != nil {
		if len(f.AccountIDs) == 0 {
			return nil, nil
		}
		c, a := in("account_id", f.AccountIDs)
		conds, args = append(conds, c), append(args, a...)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			// substr, not LIKE, so '%' and '_' in the prefix are literal.
			conds, args = append(conds, "substr(action, 1, ?) = ?"), append(args, len(f.Action), f.Action)
		} else {
			conds, args = append(conds, "action = ?"), append(args, f.Action)
		}
	}
	if f.Actor != "" {
		conds, args = append(conds, "actor = ?"), append(args, f.Actor)
	}
	if f.Target != "" {
		conds, args = append(conds, "target = ?"), append(args, f.Target)
	}
	if f.Endpoint != "" {
		// Both spellings of the target: rows before issue 12 named a
		// registration by the bare id. Each arm can use its index.
		conds = append(conds, "(target IN (?, ?) OR actor = ?)")
		args = append(args, "endpoint:"+f.Endpoint, f.Endpoint, "endpoint:"+f.Endpoint)
	}
	if f.Outcome != "" {
		conds, args = append(conds, "outcome = ?"), append(args, f.Outcome)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "time >= ?"), append(args, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "time < ?"), append(args, nanos(f.Until))
	}
	if f.AfterID > 0 {
		conds, args = append(conds, "id > ?"), append(args, f.AfterID)
	}
	if f.BeforeID > 0 {
		conds, args = append(conds, "id < ?"), append(args, f.BeforeID)
	}
	order := ` ORDER BY id`
	if f.Desc {
		order = ` ORDER BY id DESC`
	}
	q := `SELECT ` + auditCols + ` FROM audit_events` + whereClause(conds) + order
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return list(t, "audit events", scanAudit, q, args...)
}

// ListAuditChanges uses the audit id as the cursor. Ids are commit order
// here: one writer connection runs the Updates one after another
// (writer.go), AUTOINCREMENT gives each event a higher id than every event
// before it, and a reader sees whole commits only. So an event that commits
// after a read has a higher id than everything that read could return.
func (t *tx) ListAuditChanges(after registry.ChangeCursor, limit int) ([]registry.AuditEvent, registry.ChangeCursor, error) {
	evs, err := t.ListAudit(registry.AuditFilter{AfterID: int64(after), Limit: max(limit, 0)})
	if err != nil {
		return nil, after, err
	}
	for i := range evs {
		evs[i].Cursor = registry.ChangeCursor(evs[i].ID) // ids are handed out in commit order here
	}
	if len(evs) > 0 {
		after = evs[len(evs)-1].Cursor
	}
	return evs, after, nil
}

// LastChangeCursor is the highest audit id (0 for an empty log): every
// event that commits later gets a higher one (ListAuditChanges).
func (t *tx) LastChangeCursor() (registry.ChangeCursor, error) {
	var id int64
	if err := t.queryRow(`SELECT COALESCE(MAX(id), 0) FROM audit_events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("reading the end of the audit log: %w", err)
	}
	return registry.ChangeCursor(id), nil
}
