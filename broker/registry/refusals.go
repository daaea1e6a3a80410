package registry

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"time"
)

// Refused key presentations are folded so that no caller can grow the
// audit log without bound (issue 12, point 5): a misconfigured agent
// retrying forever, or anyone sending garbage keys. Repeats of one kind
// (action and reason) from one source address within refusalWindow of the
// first are counted in memory; the first is written at once, and the
// repeats as one row with detail "count" once the window has closed (at
// the next refusal of that kind, at Sweep, or at FlushRefusals). Only key
// refusals and sign-ins refused as limited (issue 15) are folded: every
// other security decision is written as it happens.
const (
	refusalWindow = time.Minute
	// maxRefusalSources bounds the kinds tracked at once. Past it, new
	// sources share one window per action and reason (source "*"), so an
	// attacker spreading over many addresses still adds a bounded number
	// of rows per window.
	maxRefusalSources = 4096
	// maxRefusalPending bounds the count rows kept for a store that failed
	// to take them.
	maxRefusalPending = 4 * maxRefusalSources
)

type refusalKind struct{ source, action, reason string }

// refusalFold is one open window of a kind.
type refusalFold struct {
	start       time.Time  // its first refusal, written at once
	count       int        // refusals folded since, not yet written
	first, last time.Time  // of the folded ones
	row         AuditEvent // the last folded refusal
	shared      bool       // sources past maxRefusalSources: no one remote
}

// refusalLog holds the open windows; its zero value is ready.
type refusalLog struct {
	mu      sync.Mutex
	folds   map[refusalKind]*refusalFold
	pending []AuditEvent // count rows whose write failed, written first next time
}

// note takes a refusal at now. It returns the count rows of windows that
// have closed, and whether ev opens a window (write it at once) or was
// folded into one.
func (l *refusalLog) note(ev AuditEvent, now time.Time) (rows []AuditEvent, writeNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.folds == nil {
		l.folds = make(map[refusalKind]*refusalFold)
	}
	rows = l.takePendingLocked()
	k := refusalKind{ev.Remote, ev.Action, ev.Detail["reason"]}
	if _, ok := l.folds[k]; !ok && len(l.folds) >= maxRefusalSources {
		rows = append(rows, l.closeLocked(now, false)...)
		if len(l.folds) >= maxRefusalSources {
			k.source = "*"
		}
	}
	f := l.folds[k]
	if f != nil && now.Sub(f.start) < refusalWindow {
		f.count++
		if f.count == 1 {
			f.first = now
		}
		f.last, f.row = now, ev
		return rows, false
	}
	if f != nil && f.count > 0 {
		rows = append(rows, f.countRow(now))
	}
	l.folds[k] = &refusalFold{start: now, shared: k.source == "*"}
	return rows, true
}

// closeLocked removes the windows that have closed by now (all of them
// with all) and returns their count rows.
func (l *refusalLog) closeLocked(now time.Time, all bool) []AuditEvent {
	var out []AuditEvent
	for k, f := range l.folds {
		if !all && now.Sub(f.start) < refusalWindow {
			continue
		}
		if f.count > 0 {
			out = append(out, f.countRow(now))
		}
		delete(l.folds, k)
	}
	return out
}

func (l *refusalLog) takePendingLocked() []AuditEvent {
	p := l.pending
	l.pending = nil
	return p
}

// failed keeps count rows a store did not take, to write them next time.
func (l *refusalLog) failed(rows []AuditEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rows {
		if len(l.pending) < maxRefusalPending {
			l.pending = append(l.pending, r)
		}
	}
}

// countRow is the row of a closed window: its last refusal, with how many
// were folded and when the first and last of them came. A window shared
// by many sources names none.
func (f *refusalFold) countRow(now time.Time) AuditEvent {
	row := f.row
	row.ID, row.Time = 0, now
	if f.shared {
		row.Remote = ""
	}
	row.Detail = maps.Clone(f.row.Detail)
	row.Detail["count"] = strconv.Itoa(f.count)
	row.Detail["first_at"] = f.first.UTC().Format(time.RFC3339Nano)
	row.Detail["last_at"] = f.last.UTC().Format(time.RFC3339Nano)
	return row
}

// appendRows appends count rows in tx.
func appendRows(tx Tx, rows []AuditEvent) error {
	for i := range rows {
		row := rows[i] // AppendAudit sets the ID: a retried run starts afresh
		if err := tx.AppendAudit(&row); err != nil {
			return err
		}
	}
	return nil
}

// writeRefusals writes count rows in one transaction; those a failed
// write loses are kept for the next one.
func (r *Registry) writeRefusals(ctx context.Context, rows []AuditEvent) error {
	if len(rows) == 0 {
		return nil
	}
	if err := r.store.Update(ctx, func(tx Tx) error { return appendRows(tx, rows) }); err != nil {
		r.refusals.failed(rows)
		return internal("writing folded key refusals", err)
	}
	return nil
}

// FlushRefusals writes the count rows of every window of folded key
// refusals, closed or not: the broker calls it as it stops, so that no
// count is lost with the process.
func (r *Registry) FlushRefusals(ctx context.Context) error {
	now := r.now()
	r.refusals.mu.Lock()
	rows := append(r.refusals.takePendingLocked(), r.refusals.closeLocked(now, true)...)
	r.refusals.mu.Unlock()
	return r.writeRefusals(ctx, rows)
}

// flushClosedRefusals writes the count rows of the windows that have
// closed (Sweep).
func (r *Registry) flushClosedRefusals(ctx context.Context, now time.Time) error {
	r.refusals.mu.Lock()
	rows := append(r.refusals.takePendingLocked(), r.refusals.closeLocked(now, false)...)
	r.refusals.mu.Unlock()
	return r.writeRefusals(ctx, rows)
}
