package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// maxStmts bounds a connection's statement cache. The fixed queries number
// well under a hundred; queries built from filters (IN lists of any length)
// could grow the cache without end, so beyond the bound a query runs
// unprepared (parsed on every call, as every query was before the cache).
const maxStmts = 256

// dbConn is one connection with its cache of prepared statements, keyed by
// query text. The modernc driver keeps a single-statement query's SQLite
// handle for the life of the driver statement and resets it after each use,
// so a cached statement is parsed once per connection.
//
// A dbConn is used by one goroutine at a time: the writer connection by the
// group-commit loop and the Update whose fn it is running (handed over
// through channels), a reader by the View that took it from the pool.
type dbConn struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	// beforeExec, when set, runs before each exec. Only tests set it: the
	// store that interleaves Updates on purpose (export_test.go).
	beforeExec func()
}

func newDBConn(ctx context.Context, db *sql.DB) (*dbConn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &dbConn{conn: c, stmts: map[string]*sql.Stmt{}}, nil
}

// stmt returns the cached statement for query, preparing it on first use;
// nil (and no error) when the cache is full.
func (c *dbConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if len(c.stmts) >= maxStmts {
		return nil, nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *dbConn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c.beforeExec != nil {
		c.beforeExec()
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.conn.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (c *dbConn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.conn.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// close closes the cached statements and the connection.
func (c *dbConn) close() error {
	var errs []error
	for q, st := range c.stmts {
		errs = append(errs, st.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.conn.Close())
	return errors.Join(errs...)
}

// discard closes a connection that failed and drops the driver connection
// instead of returning it to database/sql's idle pool, where the next
// newDBConn would pick it up again (still inside a transaction, say).
func (c *dbConn) discard() error {
	// Returning driver.ErrBadConn from Raw marks the connection bad.
	_ = c.conn.Raw(func(any) error { return driver.ErrBadConn })
	return c.close()
}
