package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"time"

	"go.uber.org/zap"
)

// PragmaForTest reads PRAGMA name on the writer or a reader connection.
func PragmaForTest(ctx context.Context, s *Store, writer bool, name string) (string, error) {
	db := s.r
	if writer {
		db = s.w
	}
	var v sql.NullString
	err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v.String, err
}

// AppliedMigrationsForTest lists schema_migrations versions in order.
func AppliedMigrationsForTest(ctx context.Context, s *Store) ([]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
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
		vs = append(vs, m.version)
	}
	return vs
}

// MarkMigrationForTest records version as applied without running anything.
func MarkMigrationForTest(ctx context.Context, s *Store, version int) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, time.Now().UnixNano())
	return err
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
		names = append(names, m.name)
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
	return s.applyMigrations(ctx, ms)
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
		if m.version <= upTo {
			sub = append(sub, m)
		}
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	s := &Store{w: db, log: zap.NewNop()}
	return errors.Join(s.applyMigrations(ctx, sub), db.Close())
}
