package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
)

// TestCacheGenerationCoversEveryColumn: an UPDATE giving any column of a
// table the login path keeps in memory another value changes the cache
// generation (0013), except the last-use columns logins write themselves
// and an endpoint's updated_at; an UPDATE that leaves every value as it was
// changes it only where a trigger counts every UPDATE. A column added by a
// later migration and left out of 0013's trigger lists fails here.
func TestCacheGenerationCoversEveryColumn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gen.db")
	if err := sqlite.MigrateToForTest(t.Context(), p, 13); err != nil {
		t.Fatal(err)
	}
	// Without foreign keys: the test changes primary keys too.
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, name, type, created_at) VALUES ('a', 'A', 'vendor', 1)`,
		`INSERT INTO users (id, account_id, username) VALUES ('u', 'a', 'u')`,
		`INSERT INTO roles (id, account_id, name) VALUES ('r', 'a', 'R')`,
		`INSERT INTO grants (user_id, role_id, account_id) VALUES ('u', 'r', 'a')`,
		`INSERT INTO api_keys (id, account_id, type, name) VALUES ('k', 'a', 'general', 'K')`,
		`INSERT INTO key_values (id, key_id, public_id) VALUES ('v', 'k', 'p')`,
		`INSERT INTO endpoints (id, account_id, state) VALUES ('e', 'a', 'trusted')`,
	} {
		exec(q)
	}
	gen := func() string {
		t.Helper()
		var g string
		if err := db.QueryRowContext(t.Context(), `SELECT value FROM meta WHERE key = ?`, registry.CacheGenerationKey).Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	unwatched := map[string][]string{
		"key_values": {"last_used_at", "last_used_from"},
		"endpoints":  {"last_seen_at", "last_seen_from", "updated_at"},
	}
	for _, table := range []string{"accounts", "users", "roles", "grants", "api_keys", "key_values", "endpoints"} {
		rows, err := db.QueryContext(t.Context(), fmt.Sprintf(`SELECT name, type FROM pragma_table_info('%s')`, table))
		if err != nil {
			t.Fatal(err)
		}
		var cols, types []string
		for rows.Next() {
			var c, typ string
			if err := rows.Scan(&c, &typ); err != nil {
				t.Fatal(err)
			}
			cols, types = append(cols, c), append(types, typ)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if len(cols) < 3 {
			t.Fatalf("%s: columns %v", table, cols)
		}
		for i, c := range cols {
			other := map[string]string{"INTEGER": "coalesce(%s, 0) + 1", "TEXT": "coalesce(%s, '') || 'x'", "BLOB": "randomblob(4 + 0 * coalesce(length(%s), 0))"}[types[i]]
			if other == "" {
				t.Fatalf("%s.%s: type %q", table, c, types[i])
			}
			before := gen()
			exec(fmt.Sprintf(`UPDATE %s SET %s = `+other, table, c, c))
			changed := gen() != before
			if want := !slices.Contains(unwatched[table], c); changed != want {
				t.Errorf("UPDATE %s SET %s to another value: generation changed %v, want %v", table, c, changed, want)
			}
		}
		// The same values again: only the tables whose every UPDATE counts.
		before := gen()
		exec(fmt.Sprintf(`UPDATE %s SET %s = %s`, table, cols[1], cols[1]))
		changed := gen() != before
		if want := table != "endpoints"; changed != want {
			t.Errorf("UPDATE %s leaving its values: generation changed %v, want %v", table, changed, want)
		}
	}
}
