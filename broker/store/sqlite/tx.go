package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// tx implements registry.Tx on one transaction of a dbConn. Its statements
// run on the cached prepared statements of that connection.
type tx struct {
	// ctx is the context given to Update or View: every statement first
	// fails with ctx.Err() once it is done.
	ctx context.Context
	// qctx is the context the driver gets. For an Update it is ctx without
	// its cancellation: the driver answers a cancellation by interrupting
	// the statement, and an interrupted write rolls back the whole SQLite
	// transaction, which a group commit shares with other Updates.
	qctx context.Context
	c    *dbConn
	// done is set when fn returned: the transaction is no longer fn's.
	done atomic.Bool
	// batch numbers the writer's transactions (0 in a View), for tests.
	batch uint64
}

var _ registry.Tx = (*tx)(nil)

type rowScanner interface{ Scan(dest ...any) error }

// errRow is a rowScanner for a query that failed before it ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// usable returns why t can run no more statements, or nil.
func (t *tx) usable() error {
	if t.done.Load() {
		return sql.ErrTxDone
	}
	return t.ctx.Err()
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	res, err := t.c.exec(t.qctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return res, nil
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	return t.c.query(t.qctx, query, args...)
}

// queryRow runs a query for at most one row; Scan returns sql.ErrNoRows
// when there is none.
func (t *tx) queryRow(query string, args ...any) rowScanner {
	rows, err := t.query(query, args...)
	if err != nil {
		return errRow{err}
	}
	return oneRow{rows}
}

// oneRow scans the first row of rows and closes them, as sql.Row does.
type oneRow struct{ rows *sql.Rows }

func (r oneRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

// execOne runs an UPDATE or DELETE by primary key and returns an error
// wrapping ErrNotFound when it touched no row.
func (t *tx) execOne(what, id, query string, args ...any) error {
	res, err := t.exec(query, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, registry.ErrNotFound)
	}
	return nil
}

// insert runs an INSERT of the what with this id.
func (t *tx) insert(what, id, query string, args ...any) error {
	if _, err := t.exec(query, args...); err != nil {
		return fmt.Errorf("creating %s %s: %w", what, id, err)
	}
	return nil
}

// exists reports whether query (a SELECT 1 ...) returns a row.
func (t *tx) exists(query string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
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
	if errors.Is(err, sql.ErrNoRows) {
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
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return out, nil
}

// in returns "col IN (?, ?, ...)" and its arguments.
func in[S ~string](col string, vals []S) (string, []any) {
	ph := make([]string, len(vals))
	args := make([]any, len(vals))
	for i, v := range vals {
		ph[i] = "?"
		args[i] = string(v)
	}
	return col + " IN (" + strings.Join(ph, ", ") + ")", args
}

// whereClause joins conditions with AND.
func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

func (c stateConflict) Error() string {
	return fmt.Sprintf("state not in %v: %v", []registry.State(c), registry.ErrConflict)
}

func (c stateConflict) Unwrap() error { return registry.ErrConflict }
