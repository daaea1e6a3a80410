package sqlite

import (
	"context"
	"database/sql"
	"time"
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
