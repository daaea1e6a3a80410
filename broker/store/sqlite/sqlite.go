// Package sqlite implements registry.Store on a single SQLite file, using
// the pure-Go modernc.org/sqlite driver.
//
// The database runs in WAL mode with synchronous=FULL, so a committed Update
// survives a crash, and readers never block the writer. Writes go through one
// connection and start with BEGIN IMMEDIATE: writers are serialised by the
// pool, and a transaction never has to upgrade a read lock to a write lock
// (the source of SQLITE_BUSY errors busy_timeout cannot fix). Views use a
// separate pool of query-only connections.
//
// The schema lives in embedded, append-only migrations (migrations/*.sql)
// that Open applies in order. Times are stored as Unix nanoseconds, NULL for
// the zero time.Time; booleans as 0/1; lists and maps as JSON text.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/edgetrust/edgetrust/broker/registry"
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
	w   *sql.DB // one connection; every Update goes through it
	r   *sql.DB // query-only connections for View
	log *zap.Logger
}

// readers is the size of the View pool.
const readers = 4

// Log field names.
const (
	logFieldVersion = "migration_version"
	logFieldName    = "migration_name"
)

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
	w, err := sql.Open("sqlite", cfg.Path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite.Open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, log: log}
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite.Open: %s: %w", cfg.Path, err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite.Open: %s: %w", cfg.Path, err)
	}

	// Readers are opened after the writer switched the file to WAL.
	r, err := sql.Open("sqlite", cfg.Path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite.Open: %w", err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite.Open: %s: %w", cfg.Path, err)
	}
	s.r = r
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

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Update runs fn in one BEGIN IMMEDIATE transaction on the writer
// connection, commits when fn returns nil and otherwise rolls back and
// returns fn's error unchanged. A panic in fn rolls back and is re-raised.
// Calling Update or View from inside fn on the same Store deadlocks (Update)
// or sees a snapshot without fn's writes (View); use the Tx instead.
func (s *Store) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return s.run(ctx, s.w, false, fn)
}

// View runs fn in a read-only transaction: a consistent snapshot of the
// last commit at fn's first read. Writes through its Tx fail.
func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	return s.run(ctx, s.r, true, fn)
}

func (s *Store) run(ctx context.Context, db *sql.DB, readOnly bool, fn func(registry.Tx) error) (err error) {
	stx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	t := &tx{ctx: ctx, tx: stx}
	// After fn returns, stx is committed or rolled back, so a Tx kept
	// beyond fn fails with sql.ErrTxDone.
	done := false
	defer func() {
		if !done {
			// fn panicked.
			if rerr := stx.Rollback(); rerr != nil {
				s.log.Error("sqlite: rollback after panic", zap.Error(rerr))
			}
		}
	}()
	ferr := fn(t)
	done = true
	if ferr != nil {
		if rerr := stx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			s.log.Error("sqlite: rollback", zap.Error(rerr))
		}
		return ferr
	}
	if readOnly {
		// Nothing to commit; Rollback just ends the read transaction.
		if rerr := stx.Rollback(); rerr != nil {
			return fmt.Errorf("sqlite: end read transaction: %w", rerr)
		}
		return nil
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations ordered by version.
func migrations() ([]migration, error) { return loadMigrations(migrationFS) }

// loadMigrations reads migrations/*.sql from fsys, ordered by version
// (numerically, not by name). File names are NNNN_description.sql; versions
// must be unique and positive. Gaps are allowed: a branch may ship 0003
// before another's 0002 is merged.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name is not NNNN_description.sql", base)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: bad version %q", base, num)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, errors.New("no migrations")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the pending embedded migrations.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return s.applyMigrations(ctx, ms)
}

// applyMigrations applies those of ms (ordered by version) not yet recorded
// in schema_migrations, in order, each in its own transaction together with
// its schema_migrations row.
func (s *Store) applyMigrations(ctx context.Context, ms []migration) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := s.w.QueryContext(ctx, `SELECT version FROM schema_migrations`)
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
	if latest := ms[len(ms)-1].version; maxApplied > latest {
		return fmt.Errorf("database schema version %d is newer than this binary's %d", maxApplied, latest)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		s.log.Info("sqlite: applied migration", zap.Int(logFieldVersion, m.version), zap.String(logFieldName, m.name))
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	stx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer stx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := stx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := stx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, time.Now().UnixNano()); err != nil {
		return err
	}
	return stx.Commit()
}
