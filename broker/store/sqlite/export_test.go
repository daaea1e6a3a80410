package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// PragmaForTest reads PRAGMA name on the writer or a reader connection.
func PragmaForTest(ctx context.Context, s *Store, writer bool, name string) (string, error) {
	var v sql.NullString
	if writer {
		err := s.onWriter(ctx, func(ctx context.Context, c *sql.Conn) error {
			return c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
		})
		return v.String, err
	}
	c, release, err := s.reader(ctx)
	if err != nil {
		return "", err
	}
	defer release(nil)
	err = c.conn.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v.String, err
}

// CommitsForTest counts the COMMITs of Update batches so far.
func CommitsForTest(s *Store) int64 { return s.commits.Load() }

// SendingForTest counts the Updates waiting for the writer to take them.
func SendingForTest(s *Store) int64 { return s.sending.Load() }

// BatchForTest numbers the writer transaction tx belongs to; 0 in a View.
func BatchForTest(t registry.Tx) uint64 { return t.(*tx).batch }

// MaxBatchForTest is the most Updates one transaction holds.
const MaxBatchForTest = maxBatch

// AppliedMigrationsForTest lists schema_migrations versions in order.
func AppliedMigrationsForTest(ctx context.Context, s *Store) ([]int, error) {
	c, release, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release(nil)
	rows, err := c.conn.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// KnownMigrationsForTest lists the embedded migration versions in order.
func KnownMigrationsForTest() []int {
	ms, err := migrations()
	if err != nil {
		panic(err)
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

// MarkMigrationForTest records version as applied without running anything.
func MarkMigrationForTest(ctx context.Context, s *Store, version int) error {
	return s.onWriter(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			version, time.Now().UnixNano())
		return err
	})
}

// LoadMigrationsForTest lists the names of fsys's migrations in the order
// they would be applied.
func LoadMigrationsForTest(fsys fs.FS) ([]string, error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return names, nil
}

// ApplyMigrationsForTest applies fsys's pending migrations to s as Open
// applies the embedded ones.
func ApplyMigrationsForTest(ctx context.Context, s *Store, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	return s.onWriter(ctx, func(ctx context.Context, c *sql.Conn) error {
		return applyMigrations(ctx, c, s.log, ms)
	})
}

// MigrateToForTest creates the database at path with only the embedded
// migrations up to version upTo applied: a database an older binary made.
func MigrateToForTest(ctx context.Context, path string, upTo int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var sub []migration
	for _, m := range ms {
		if m.Version <= upTo {
			sub = append(sub, m)
		}
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	return errors.Join(applyMigrations(ctx, db, zap.NewNop(), sub), db.Close())
}
