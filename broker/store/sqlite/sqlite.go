// Package sqlite implements registry.Store on a single SQLite file, using
// the pure-Go modernc.org/sqlite driver.
//
// The database runs in WAL mode with synchronous=FULL, so a committed Update
// survives a crash, and readers never block the writer. Writes go through one
// connection owned by a writer goroutine, which group-commits the Updates
// queued while it was busy: one BEGIN IMMEDIATE, a savepoint per Update (a
// failing Update undoes only its own writes), one COMMIT and one fsync for
// all, and each Update returns only after that COMMIT (writer.go). Views
// use a separate pool of query-only connections. Every connection keeps its
// statements prepared (conn.go), so a query is parsed once per connection.
//
// The schema lives in embedded, append-only migrations (migrations/*.sql)
// that Open applies in order, then the Go step of migration 0008
// (accountnames.go) until it has run. Times are stored as Unix nanoseconds, NULL for
// the zero time.Time; booleans as 0/1; lists and maps as JSON text.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlmigrate"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

var _ registry.Store = (*Store)(nil)

// Config configures Open. Only Path is required.
type Config struct {
	// Path is the database file. It is created with mode 0600 when missing,
	// and an existing file is chmod-ed to 0600.
	Path string
	// Logger receives migration and rollback messages; nil means zap.NewNop().
	Logger *zap.Logger
}

// Store is a registry.Store on SQLite. It is safe for concurrent use.
type Store struct {
	w   *sql.DB // one connection, wc; migrations run on it before wc is taken
	r   *sql.DB // query-only connections for View
	log *zap.Logger

	// wc is the writer connection, used only by the writer goroutine and by
	// the Update whose fn it is running (see writer.go).
	wc    *dbConn
	queue chan *request // Updates waiting for the writer; unbuffered
	// pool holds the reader connections not in use; nil stands for one
	// that broke and is reopened by the next View.
	pool chan *dbConn

	closing    chan struct{} // closed by Close
	writerDone chan struct{} // closed when the writer goroutine returns
	closeOnce  sync.Once
	closeErr   error

	// For tests: COMMITs of Update batches, Updates on their way into the
	// queue, and the writer's count of batches (writer goroutine only).
	commits  atomic.Int64
	sending  atomic.Int64
	batchSeq uint64
}

// readers is the size of the View pool.
const readers = 4

// errClosed is returned by Update and View after Close.
var errClosed = errors.New("sqlite: store is closed")

// Open opens (creating if needed) the database at cfg.Path and applies
// pending migrations. It fails when the database was migrated by a newer
// binary (it holds a migration this one does not know).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite.Open: Config.Path is empty")
	}
	// The driver splits the DSN at the first '?'.
	if strings.ContainsRune(cfg.Path, '?') {
		return nil, fmt.Errorf("sqlite.Open: Config.Path %q contains '?'", cfg.Path)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if err := createPrivate(cfg.Path); err != nil {
		return nil, fmt.Errorf("sqlite.Open: %w", err)
	}

	// Pragmas go in the DSN so every connection, including ones the pool
	// opens later, gets them. busy_timeout is applied first by the driver.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	// temp_store(MEMORY) keeps the writer's savepoint journal (one savepoint
	// per Update of a group commit, writer.go) in memory: on the default, it
	// spills to a temporary file after 64 KiB, a write syscall per page.
	w, err := sql.Open("sqlite", cfg.Path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite.Open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{
		w:          w,
		log:        log,
		queue:      make(chan *request),
		pool:       make(chan *dbConn, readers),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	fail := func(err error) (*Store, error) {
		for range len(s.pool) {
			if c := <-s.pool; c != nil {
				_ = c.close()
			}
		}
		if s.wc != nil {
			_ = s.wc.close()
		}
		if s.r != nil {
			_ = s.r.Close()
		}
		_ = w.Close()
		return nil, fmt.Errorf("sqlite.Open: %s: %w", cfg.Path, err)
	}
	if err := w.PingContext(ctx); err != nil {
		return fail(err)
	}
	if err := applyMigrations(ctx, w, log, nil); err != nil {
		return fail(err)
	}
	if s.wc, err = newDBConn(ctx, w); err != nil {
		return fail(err)
	}

	// Readers are opened after the writer switched the file to WAL.
	s.r, err = sql.Open("sqlite", cfg.Path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		return fail(err)
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)
	for range readers {
		c, err := newDBConn(ctx, s.r)
		if err != nil {
			return fail(err)
		}
		s.pool <- c
	}
	go s.writeLoop()
	s.uniqueAccountNames(ctx)
	return s, nil
}

// createPrivate makes sure the database file exists with mode 0600 before
// SQLite opens it (SQLite creates the -wal and -shm files with the
// database file's mode).
func createPrivate(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(p, 0o600)
}

// Close waits for the Updates the writer has taken and the Views in
// progress, then closes every connection. Update and View fail afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		var errs []error
		for range readers {
			if c := <-s.pool; c != nil {
				errs = append(errs, c.close())
			}
		}
		errs = append(errs, s.wc.close(), s.r.Close(), s.w.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Update runs fn in a read-write transaction and returns once it is
// committed (durably: synchronous=FULL), or returns fn's error unchanged
// after undoing fn's writes; a failure of a full, read-only or failing
// disk (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR), in fn's writes or the
// COMMIT, also matches registry.ErrUnwritable. A panic in fn undoes its writes and is
// re-raised. fn runs on the caller's goroutine, after the Updates queued
// before it and seeing their writes.
//
// Updates are group-committed: see writer.go. Calling Update from inside fn
// on the same Store deadlocks; View from inside fn sees a snapshot without
// fn's writes; use the Tx instead.
func (s *Store) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return unwritable(s.update(ctx, &request{fn: fn}))
}

// View runs fn in a read-only transaction: a consistent snapshot of the
// last commit at fn's first read. Writes through its Tx fail.
func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, release, err := s.reader(ctx)
	if err != nil {
		return err
	}
	// BEGIN and ROLLBACK run whatever ctx does: an interrupted one would
	// leave the connection in an unknown state.
	bg := context.WithoutCancel(ctx)
	if _, err := c.exec(bg, "BEGIN"); err != nil {
		release(err)
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	t := &tx{ctx: ctx, qctx: ctx, c: c}
	ended := false
	defer func() {
		if !ended {
			// fn panicked or called runtime.Goexit.
			t.done.Store(true)
			_, err := c.exec(bg, "ROLLBACK")
			release(err)
		}
	}()
	ferr := fn(t)
	t.done.Store(true)
	ended = true
	// Nothing to commit; ROLLBACK just ends the read transaction.
	_, err = c.exec(bg, "ROLLBACK")
	release(err)
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return fmt.Errorf("sqlite: end read transaction: %w", err)
	}
	return nil
}

// reader takes a connection from the View pool. release(nil) gives it
// back; release(err) closes it as broken, and the next View opens another.
func (s *Store) reader(ctx context.Context) (*dbConn, func(error), error) {
	var c *dbConn
	select {
	case c = <-s.pool:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-s.closing:
		return nil, nil, errClosed
	}
	if c == nil {
		var err error
		if c, err = newDBConn(ctx, s.r); err != nil {
			s.pool <- nil
			return nil, nil, fmt.Errorf("sqlite: opening a reader: %w", err)
		}
	}
	release := func(err error) {
		if err != nil {
			s.log.Error("sqlite: closing a reader connection after an error", zap.Error(err))
			_ = c.discard()
			c = nil
		}
		s.pool <- c
	}
	return c, release, nil
}

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration = sqlmigrate.Migration

// migrations returns the embedded migrations ordered by version.
func migrations() ([]migration, error) { return loadMigrations(migrationFS) }

// loadMigrations reads the embedded migration files (sqlmigrate.Load).
var loadMigrations = sqlmigrate.Load

// migrationDB is what applyMigrations needs: *sql.DB or *sql.Conn.
type migrationDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// applyMigrations applies those of ms (ordered by version; nil means the
// embedded ones) not yet recorded in schema_migrations, in order, each in
// its own transaction together with its schema_migrations row.
func applyMigrations(ctx context.Context, db migrationDB, log *zap.Logger, ms []migration) error {
	if ms == nil {
		var err error
		if ms, err = migrations(); err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	maxApplied := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied[v] = true
		maxApplied = max(maxApplied, v)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	if latest := ms[len(ms)-1].Version; maxApplied > latest {
		return fmt.Errorf("database schema version %d is newer than this binary's %d", maxApplied, latest)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		log.Info("sqlite: applied migration", zap.Int(logfield.MigrationVer, m.Version), zap.String(logfield.MigrationName, m.Name))
	}
	return nil
}

func apply(ctx context.Context, db migrationDB, m migration) error {
	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer stx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := stx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := stx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.Version, time.Now().UnixNano()); err != nil {
		return err
	}
	return stx.Commit()
}
