package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// tx implements registry.Tx on one transaction of a connection.
type tx struct {
	// ctx is the context given to Update or View; pgx cancels a statement
	// running when it ends (the transaction is then rolled back).
	ctx  context.Context
	conn *pgx.Conn
	// done is set when fn returned: the transaction is no longer fn's.
	done atomic.Bool
	// lastAudit is the id of the last audit event appended (0: none): the
	// change cursor the Update's notification carries.
	lastAudit int64
	// retry is the first serialisation failure or deadlock a statement
	// met: the transaction is lost, and Update runs fn again.
	retry error
	// beforeWrite, when set, runs before each write. Only tests set it: the
	// store built to show that the serialisation checks catch a store
	// without the write lock (unserialised_export_test.go).
	beforeWrite func()
}

var _ registry.Tx = (*tx)(nil)

// errTxDone is returned by a Tx used after its fn returned.
var errTxDone = errors.New("postgres: transaction has already been committed or rolled back")

type rowScanner interface{ Scan(dest ...any) error }

// errRow is a rowScanner for a query that failed before it ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// usable returns why t can run no more statements, or nil.
func (t *tx) usable() error {
	if t.done.Load() {
		return errTxDone
	}
	return t.ctx.Err()
}

// writing runs the test hook before a write.
func (t *tx) writing() {
	if t.beforeWrite != nil {
		t.beforeWrite()
	}
}

// failed notes a retryable failure and maps constraint violations.
func (t *tx) failed(err error) error {
	if err == nil {
		return nil
	}
	if t.retry == nil && retryable(err) {
		t.retry = err
	}
	return mapErr(err)
}

// exec runs a statement that cannot violate a constraint. (A statement
// that fails aborts a PostgreSQL transaction: see guarded for those that
// may fail on a constraint and after which fn goes on.)
func (t *tx) exec(query string, args ...any) (pgconn.CommandTag, error) {
	if err := t.usable(); err != nil {
		return pgconn.CommandTag{}, err
	}
	t.writing()
	tag, err := t.conn.Exec(t.ctx, query, args...)
	return tag, t.failed(err)
}

// guarded runs a statement that may violate a constraint (a unique key, a
// foreign key) inside a savepoint, so that its failure undoes it alone and
// leaves the transaction usable, as SQLite does: the registry goes on after
// ErrConflict (it reads which sibling holds a name). The savepoint, the
// statement and the release go in one pipeline: one round trip.
func (t *tx) guarded(query string, args ...any) (pgconn.CommandTag, error) {
	if err := t.usable(); err != nil {
		return pgconn.CommandTag{}, err
	}
	t.writing()
	b := &pgx.Batch{}
	b.Queue(`SAVEPOINT guard`)
	b.Queue(query, args...)
	b.Queue(`RELEASE SAVEPOINT guard`)
	br := t.conn.SendBatch(t.ctx, b)
	_, serr := br.Exec()
	tag, err := br.Exec()
	_, rerr := br.Exec()
	cerr := br.Close()
	switch {
	case serr != nil:
		return tag, t.failed(serr)
	case err != nil:
		// Undo the statement alone; the transaction goes on.
		if _, uerr := t.conn.Exec(t.ctx, `ROLLBACK TO SAVEPOINT guard; RELEASE SAVEPOINT guard`); uerr != nil {
			return tag, errors.Join(t.failed(err), t.failed(uerr))
		}
		return tag, t.failed(err)
	case rerr != nil:
		return tag, t.failed(rerr)
	}
	return tag, t.failed(cerr)
}

func (t *tx) query(query string, args ...any) (pgx.Rows, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	rows, err := t.conn.Query(t.ctx, query, args...)
	return rows, t.failed(err)
}

// queryRow runs a query for at most one row; Scan returns pgx.ErrNoRows
// when there is none.
func (t *tx) queryRow(query string, args ...any) rowScanner {
	if err := t.usable(); err != nil {
		return errRow{err}
	}
	return txRow{t, t.conn.QueryRow(t.ctx, query, args...)}
}

// txRow notes the failures of a row's query (known only at Scan).
type txRow struct {
	t   *tx
	row pgx.Row
}

func (r txRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return r.t.failed(err)
}

// execOne runs an UPDATE or DELETE by primary key and returns an error
// wrapping ErrNotFound when it touched no row.
func (t *tx) execOne(what, id, query string, args ...any) error {
	return t.one(t.exec, what, id, query, args...)
}

// guardedOne is execOne for a statement that may violate a constraint.
func (t *tx) guardedOne(what, id, query string, args ...any) error {
	return t.one(t.guarded, what, id, query, args...)
}

func (t *tx) one(run func(string, ...any) (pgconn.CommandTag, error), what, id, query string, args ...any) error {
	tag, err := run(query, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s %s: %w", what, id, registry.ErrNotFound)
	}
	return nil
}

// insert runs an INSERT of the what with this id, guarded: ErrConflict on
// a duplicate, ErrNotFound when a row it refers to is missing.
func (t *tx) insert(what, id, query string, args ...any) error {
	if _, err := t.guarded(query, args...); err != nil {
		return fmt.Errorf("creating %s %s: %w", what, id, err)
	}
	return nil
}

// exists reports whether query (a SELECT 1 ...) returns a row.
func (t *tx) exists(query string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(query, args...).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// count runs a SELECT count(*) query.
func (t *tx) count(what, id, query string, args ...any) (int, error) {
	var n int
	if err := t.queryRow(query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s %s: %w", what, id, err)
	}
	return n, nil
}

// getOne scans the single row of query, or returns ErrNotFound.
func getOne[T any](t *tx, what, id string, scan func(rowScanner) (T, error), query string, args ...any) (*T, error) {
	v, err := scan(t.queryRow(query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", what, id, registry.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, id, err)
	}
	return &v, nil
}

// list scans every row of query.
func list[T any](t *tx, what string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, t.failed(err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, t.failed(err))
	}
	return out, nil
}

// params numbers the arguments of a query built from a filter.
type params struct{ args []any }

// add appends v and returns its placeholder ($n).
func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// strs converts a list of string-like values for "= ANY($n)".
func strs[S ~string](vals []S) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}

// whereClause joins conditions with AND.
func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// updateIf runs a conditional UPDATE of one row and, when it touched none,
// tells a missing row (ErrNotFound; existsQuery is a SELECT 1 of the row by
// key, $1) from a condition that failed (failed).
func (t *tx) updateIf(what string, failed error, existsQuery string, key any, query string, args ...any) error {
	tag, err := t.exec(query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return t.whyNotUpdated(what, failed, existsQuery, key)
}

// whyNotUpdated returns ErrNotFound when existsQuery finds no row for key,
// else failed, each wrapped in what.
func (t *tx) whyNotUpdated(what string, failed error, existsQuery string, key any) error {
	ok, err := t.exists(existsQuery, key)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !ok {
		return fmt.Errorf("%s: %w", what, registry.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, failed)
}
