package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// overlapStore keeps only an audit log, in memory, and runs Updates at
// once without serialising them: an event gets its id when it is
// appended, as a PostgreSQL sequence hands it out at insert, and becomes
// visible when its Update commits. With byCommit its change cursor is a
// position taken at commit, as registry.AuditTx asks; without, it is the
// id, the mistake the suite must catch.
type overlapStore struct {
	byCommit bool

	mu        sync.Mutex
	lastID    int64
	lastPos   int64
	committed []overlapRow // in commit order
}

type overlapRow struct {
	pos int64
	ev  registry.AuditEvent
}

type overlapTx struct {
	registry.Tx // nil: any other method panics
	s           *overlapStore
	pending     []registry.AuditEvent
}

func (s *overlapStore) Update(ctx context.Context, fn func(registry.Tx) error) error {
	t := &overlapTx{s: s}
	if err := fn(t); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range t.pending {
		s.lastPos++
		s.committed = append(s.committed, overlapRow{s.lastPos, ev})
	}
	return nil
}

func (s *overlapStore) View(ctx context.Context, fn func(registry.Tx) error) error {
	return fn(&overlapTx{s: s})
}

func (s *overlapStore) Close() error { return nil }

func (t *overlapTx) AppendAudit(e *registry.AuditEvent) error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.s.lastID++
	e.ID = t.s.lastID
	t.pending = append(t.pending, *e)
	return nil
}

func (t *overlapTx) ListAuditChanges(after registry.ChangeCursor, limit int) ([]registry.AuditEvent, registry.ChangeCursor, error) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	rows := slices.Clone(t.s.committed)
	key := func(r overlapRow) int64 { return r.pos }
	if !t.s.byCommit {
		key = func(r overlapRow) int64 { return r.ev.ID }
		slices.SortFunc(rows, func(a, b overlapRow) int { return int(a.ev.ID - b.ev.ID) })
	}
	var out []registry.AuditEvent
	for _, r := range rows {
		if key(r) <= int64(after) {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		ev := r.ev
		ev.Cursor = registry.ChangeCursor(key(r))
		out, after = append(out, ev), ev.Cursor
	}
	return out, after, nil
}

// LastChangeCursor is the cursor after every committed event.
func (t *overlapTx) LastChangeCursor() (registry.ChangeCursor, error) {
	_, c, err := t.ListAuditChanges(0, 0)
	return c, err
}

// The overlap check fails on a store whose cursor is an id handed out at
// insert, and passes on one that runs Updates at once but keeps the
// cursor in commit order.
func TestChangeCursorOverlapCatchesIDsAtInsert(t *testing.T) {
	err := checkChangeCursorOverlap(t.Context(), &overlapStore{})
	if !errors.Is(err, errCursor) {
		t.Errorf("check on a cursor by insert id = %v, want an error wrapping %q", err, errCursor)
	}
	if err := checkChangeCursorOverlap(t.Context(), &overlapStore{byCommit: true}); err != nil {
		t.Errorf("check on a cursor in commit order: %v", err)
	}
}
