package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/store/sqlmigrate"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration = sqlmigrate.Migration

// loadMigrations reads the embedded migration files (sqlmigrate.Load).
var loadMigrations = sqlmigrate.Load

// migrate applies the embedded migrations.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return err
	}
	return s.applyMigrations(ctx, ms)
}

// applyMigrations applies those of ms (ordered by version) not yet
// recorded in schema_migrations, in order, each in its own transaction
// together with its schema_migrations row.
//
// It runs on one connection holding a session advisory lock of this
// schema: brokers that start together on an empty database take turns,
// and each after the first finds the migrations applied. (CREATE TABLE IF
// NOT EXISTS alone is not safe against a concurrent creator: the loser
// fails on a unique index of the catalog.) The lock goes with the
// connection, should the process die holding it.
func (s *Store) applyMigrations(ctx context.Context, ms []migration) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	conn := c.Conn()
	key := lockKey("migrate", s.schema)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// Closing the session releases the lock.
			_ = conn.Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at BIGINT  NOT NULL
)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	maxApplied := 0
	for _, v := range versions {
		applied[int(v)] = true
		maxApplied = max(maxApplied, int(v))
	}
	if latest := ms[len(ms)-1].Version; maxApplied > latest {
		return fmt.Errorf("database schema version %d is newer than this binary's %d", maxApplied, latest)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := apply(ctx, conn, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		s.log.Info("postgres: applied migration", zap.Int(logfield.MigrationVer, m.Version), zap.String(logfield.MigrationName, m.Name))
	}
	return nil
}

func apply(ctx context.Context, conn *pgx.Conn, m migration) error {
	t, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	// Without arguments pgx sends the file as one simple query, which may
	// hold many statements.
	if _, err := t.Exec(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := t.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
		m.Version, time.Now().UnixNano()); err != nil {
		return err
	}
	return t.Commit(ctx)
}
