// Package postgres implements registry.Store on PostgreSQL through pgx
// (v5, pgxpool), so that several brokers can share one database.
//
// # Writers take one lock
//
// Every Update runs at READ COMMITTED and takes, as its first statement,
// pg_advisory_xact_lock on a key of this store's schema; PostgreSQL holds
// the lock until the transaction commits or rolls back. Updates are thereby
// serialised across every broker on the database, as SQLite's single
// writer serialises them in one process, and:
//
//   - fn runs alone among writers and, each statement at READ COMMITTED
//     reading the latest commit, sees every write committed before it took
//     the lock. The registry's read-then-write rules (count endpoints, then
//     create one under the quota; read an endpoint's state, then record the
//     decision taken from it) hold as they do on SQLite.
//   - Audit ids are handed out in commit order (the change cursor, below).
//
// The isolation level matters: at REPEATABLE READ or SERIALIZABLE the
// snapshot would be taken at the first statement — the lock call, before
// it waited — and fn would read what was committed while it waited as if
// it were not. Views need no lock: each runs at REPEATABLE READ READ ONLY,
// a consistent snapshot that writers never block.
//
// We chose the lock over SERIALIZABLE with retries. SERIALIZABLE would let
// writers on unrelated rows run side by side, but: the registry's hot
// writes contend by design (registrations counting one account's
// endpoints against its quota, which SSI answers with serialisation
// failures and re-runs of fn, password hashing and all); the change cursor
// would need a commit-order position that PostgreSQL sequences do not give
// (an xid8 horizon read below pg_snapshot_xmin, holding events back); and
// writers would still retry under load where the lock makes them wait in
// line. The cost of the lock is that writers across all brokers go one at a
// time, each for the round trips of its own statements; the registry's
// Updates are a few statements each, so the database, not the lock, bounds
// the write rate. Within one process, Updates also wait for a local write
// slot before taking a pooled connection, so that writers queued on the
// lock do not hold the connections that Views need.
//
// Update still runs fn again (a bounded number of times) when a statement
// or the commit fails with serialization_failure (40001) or
// deadlock_detected (40P01), which the lock makes unexpected but a server
// may report (a conflict with recovery on a standby, a server whose
// default isolation was changed under it); registry.Store allows it. It
// never runs fn again for fn's own error.
//
// # The change cursor and notifications
//
// The change cursor (AuditTx.ListAuditChanges) is the audit id: ids come
// from a sequence without a cache, taken only inside Updates under the
// lock, so each is higher than every id committed before and a reader can
// never see a higher id commit before a lower one.
//
// An Update that appended audit events also sends, in its own transaction,
// pg_notify on the store's channel ("edgetrust_changes" in the schema
// public) with the cursor of its last event as the payload: PostgreSQL
// delivers it when the transaction commits, and never for one rolled back.
// It is only a wake-up carrying a position; the state is read from the
// tables. Listen delivers them (listen.go).
//
// # Constraint errors
//
// A failed statement aborts a PostgreSQL transaction, while the registry
// goes on after a conflict (it reads which sibling holds a name). The
// statements that can violate a unique or foreign key run inside a
// savepoint sent in one pipeline with them (tx.guarded), so a violation
// undoes that statement alone, as on SQLite.
//
// # Schema
//
// The schema lives in embedded, append-only migrations of this store
// (migrations/*.sql), which Open applies under a session advisory lock so
// that brokers starting together on an empty database do not race
// (migrate.go). The schema is the first of the connection's search_path
// (public by default; a URL may set search_path=NAME, and the schema must
// exist). Times are BIGINT Unix nanoseconds, NULL for the zero time
// (timestamptz keeps microseconds); lists and maps are jsonb.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

var _ registry.Store = (*Store)(nil)

// Config configures Open.
type Config struct {
	// URL is a PostgreSQL connection URL or keyword/value string, as libpq
	// takes them (postgres://USER@HOST:PORT/DB?sslmode=disable), plus
	// pgxpool's pool_max_conns and the like. search_path=NAME selects the
	// schema.
	URL string
	// Logger receives migration and retry messages; nil means zap.NewNop().
	Logger *zap.Logger
}

// Store is a registry.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	log  *zap.Logger
	// schema is the schema the store's tables live in.
	schema string
	// beginUpdate starts an Update's transaction and takes the write lock.
	beginUpdate string
	// channel is the NOTIFY channel of this schema's changes.
	channel string
	// writeSlot is this process's turn at the write lock (one at a time).
	writeSlot chan struct{}

	closing   chan struct{} // closed by Close
	closeOnce sync.Once

	// onUpdate, when set, is called with each Update's transaction before
	// fn runs, and what it returns once the transaction ended. Only tests
	// set it (unserialised_export_test.go).
	onUpdate func(*tx) func()
}

// maxAttempts bounds the runs of one Update's fn after serialisation
// failures.
const maxAttempts = 10

// Channel is the NOTIFY channel of a store in the schema public.
const Channel = "edgetrust_changes"

// errClosed is returned by Update, View and Listen after Close.
var errClosed = errors.New("postgres: store is closed")

// Open connects to the database cfg.URL names and applies pending
// migrations. It fails when the database was migrated by a newer binary
// (it holds a migration this one does not know). Errors never include the
// URL's password.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres.Open: Config.URL is empty")
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres.Open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres.Open: %w", err)
	}
	where := fmt.Sprintf("database %s on %s:%d", pc.ConnConfig.Database, pc.ConnConfig.Host, pc.ConnConfig.Port)
	fail := func(err error) (*Store, error) {
		pool.Close()
		return nil, fmt.Errorf("postgres.Open: %s: %w", where, err)
	}
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fail(err)
	}
	if schema == nil {
		return fail(errors.New("no schema of the search_path exists: create it, or leave search_path out for public"))
	}
	s := &Store{
		pool:        pool,
		log:         log,
		schema:      *schema,
		beginUpdate: "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" + strconv.FormatInt(lockKey("update", *schema), 10) + ")",
		channel:     channelOf(*schema),
		writeSlot:   make(chan struct{}, 1),
		closing:     make(chan struct{}),
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// lockKey is the advisory lock key of one purpose in one schema: stores in
// other schemas of the database do not wait for each other.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("edgetrust." + purpose + "\x00" + schema))
	return int64(h.Sum64())
}

// channelOf is the NOTIFY channel of a schema: Channel for public, and
// for another schema one of its own, so that stores in other schemas do
// not wake each other.
func channelOf(schema string) string {
	if schema == "public" {
		return Channel
	}
	h := fnv.New64a()
	h.Write([]byte(schema))
	return Channel + "_" + strconv.FormatUint(h.Sum64(), 36)
}

// Close waits for the Updates and Views in progress, then closes every
// connection. Update, View and Listen fail afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.pool.Close()
	})
	return nil
}

// Update runs fn in a read-write transaction holding the write lock and
// returns once it is committed, or returns fn's error after rolling back.
// A panic in fn rolls back and is re-raised. Calling Update from inside fn
// on the same Store deadlocks (the write slot is held); use the Tx.
func (s *Store) Update(ctx context.Context, fn func(registry.Tx) error) error {
	for attempt := 1; ; attempt++ {
		retry, err := s.update(ctx, fn)
		if !retry {
			return unwritable(err)
		}
		if attempt == maxAttempts {
			return fmt.Errorf("postgres: update failed %d times on serialisation failures: %w", attempt, err)
		}
		s.log.Debug("postgres: running an update again after a serialisation failure", zap.Int(logfield.Attempt, attempt), zap.Error(err))
	}
}

// update runs fn once; retry tells that the transaction failed on a
// serialisation failure or deadlock and fn may run again.
func (s *Store) update(ctx context.Context, fn func(registry.Tx) error) (retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	select {
	case s.writeSlot <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.closing:
		return false, errClosed
	}
	defer func() { <-s.writeSlot }()
	c, err := s.acquire(ctx)
	if err != nil {
		return false, err
	}
	// Release returns the connection to the pool only when it is idle
	// (no transaction left open); it closes any other.
	defer c.Release()
	conn := c.Conn()
	if _, err := conn.Exec(ctx, s.beginUpdate); err != nil {
		return retryable(err), fmt.Errorf("postgres: begin: %w", err)
	}
	// COMMIT and ROLLBACK run whatever ctx does: an interrupted COMMIT
	// would leave the outcome unknown.
	bg := context.WithoutCancel(ctx)
	t := &tx{ctx: ctx, conn: conn}
	if s.onUpdate != nil {
		defer s.onUpdate(t)()
	}
	ended := false
	defer func() {
		if !ended { // fn panicked or called runtime.Goexit
			t.done.Store(true)
			s.rollback(bg, conn)
		}
	}()
	ferr := fn(t)
	t.done.Store(true)
	ended = true
	if t.retry != nil {
		s.rollback(bg, conn)
		return true, t.retry
	}
	if ferr != nil {
		s.rollback(bg, conn)
		return false, ferr
	}
	commit := "COMMIT"
	if t.lastAudit > 0 {
		// Delivered when this transaction commits, never if it does not.
		commit = "SELECT pg_notify('" + s.channel + "', '" + strconv.FormatInt(t.lastAudit, 10) + "'); COMMIT"
	}
	tag, err := conn.Exec(bg, commit)
	if err != nil {
		s.rollback(bg, conn)
		return retryable(err), fmt.Errorf("postgres: commit: %w", err)
	}
	if tag.String() != "COMMIT" {
		// PostgreSQL answers COMMIT with ROLLBACK for a transaction a failed
		// statement aborted (one fn went on after, ignoring its error).
		return false, errors.New("postgres: commit: the transaction was rolled back: a statement in it had failed")
	}
	return false, nil
}

// rollback ends a transaction; a connection where that fails is closed by
// Release.
func (s *Store) rollback(ctx context.Context, conn *pgx.Conn) {
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil && !conn.IsClosed() {
		s.log.Error("postgres: rollback failed; closing the connection", zap.Error(err))
		_ = conn.Close(ctx)
	}
}

// acquire takes a pooled connection, failing with errClosed after Close.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	select {
	case <-s.closing:
		return nil, errClosed
	default:
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		select {
		case <-s.closing:
			return nil, errClosed
		default:
		}
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	return c, nil
}

// View runs fn in a read-only transaction: a REPEATABLE READ snapshot
// taken at its first statement. Writes through its Tx fail.
func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	conn := c.Conn()
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	bg := context.WithoutCancel(ctx)
	t := &tx{ctx: ctx, conn: conn}
	ended := false
	defer func() {
		if !ended {
			t.done.Store(true)
			s.rollback(bg, conn)
		}
	}()
	ferr := fn(t)
	t.done.Store(true)
	ended = true
	s.rollback(bg, conn) // nothing to commit
	return ferr
}
