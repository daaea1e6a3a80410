package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/store/storetest"
)

// oldDatabase makes a database file as a binary that knew migrations up to
// upTo left it and opens it with foreign keys on, for an upgrade test to
// fill before it opens the file as a store (close db first).
func oldDatabase(t *testing.T, upTo int) (path string, db *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "old.db")
	if err := sqlite.MigrateToForTest(t.Context(), path, upTo); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	return path, db
}

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	return s
}

// TestConformance runs the suite on copies of one freshly migrated
// database file: migrating a new file for each of its cases took most of
// the package's time under -race (TestMigrationOrder and the upgrade tests
// migrate files of their own).
func TestConformance(t *testing.T) {
	template := filepath.Join(t.TempDir(), "template.db")
	if err := open(t, template).Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T) registry.Store {
		p := filepath.Join(t.TempDir(), "registry.db")
		if err := os.WriteFile(p, db, 0o600); err != nil {
			t.Fatal(err)
		}
		return open(t, p)
	})
}

func TestOpenEmptyPath(t *testing.T) {
	_, err := sqlite.Open(t.Context(), sqlite.Config{})
	if err == nil || err.Error() != "sqlite.Open: Config.Path is empty" {
		t.Errorf("Open with no path: %v", err)
	}
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	t.Run("new file", func(t *testing.T) {
		p := filepath.Join(dir, "new.db")
		s := open(t, p)
		// Write so the WAL and shared-memory files exist too.
		if err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.SetMeta("k", "v") }); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{p, p + "-wal", p + "-shm"} {
			assertMode(t, f)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("existing file is tightened", func(t *testing.T) {
		p := filepath.Join(dir, "existing.db")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil { // umask-proof
			t.Fatal(err)
		}
		s := open(t, p)
		defer s.Close()
		assertMode(t, p)
	})
}

func assertMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("%s has mode %v, want 0600", filepath.Base(path), got)
	}
}

// TestPragmas reads the connection settings back through both pools.
func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "p.db"))
	defer s.Close()
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "10000",
	}
	for _, pool := range []string{"writer", "reader"} {
		got := map[string]string{}
		for name := range want {
			v, err := sqlite.PragmaForTest(t.Context(), s, pool == "writer", name)
			if err != nil {
				t.Fatalf("%s: pragma %s: %v", pool, name, err)
			}
			got[name] = strings.ToLower(v)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s pragmas (-want +got):\n%s", pool, d)
		}
	}
	v, err := sqlite.PragmaForTest(t.Context(), s, false, "query_only")
	if err != nil || v != "1" {
		t.Errorf("reader query_only = %q, %v; want 1", v, err)
	}
}

func TestTimesReadBackInUTC(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "utc.db"))
	defer s.Close()
	loc := time.FixedZone("UTC+5", 5*3600)
	created := time.Date(2026, 1, 2, 8, 4, 5, 999, loc)
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		return tx.CreateAccount(&registry.Account{ID: "a", CreatedAt: created})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(t.Context(), func(tx registry.Tx) error {
		a, err := tx.GetAccount("a")
		if err != nil {
			return err
		}
		if a.CreatedAt.Location() != time.UTC || !a.CreatedAt.Equal(created) {
			t.Errorf("CreatedAt = %v, want %v in UTC", a.CreatedAt, created.UTC())
		}
		if !a.UpdatedAt.IsZero() || a.UpdatedAt.Location() != time.UTC {
			t.Errorf("UpdatedAt = %#v, want the zero time", a.UpdatedAt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "range.db"))
	defer s.Close()
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		return tx.CreateAccount(&registry.Account{ID: "a", CreatedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)})
	})
	if err == nil {
		t.Error("a time past 2262 was stored")
	}
}

func TestReopenKeepsData(t *testing.T) {
	p := filepath.Join(t.TempDir(), "reopen.db")
	ctx := context.Background()
	s := open(t, p)
	want := registry.Account{ID: "a", Name: "kept", Type: registry.AccountVendor, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	if err := s.Update(ctx, func(tx registry.Tx) error {
		if err := tx.CreateAccount(&want); err != nil {
			return err
		}
		return tx.SetMeta("bootstrap.done", "1")
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 { // opening again re-applies nothing
		s = open(t, p)
		err := s.View(ctx, func(tx registry.Tx) error {
			got, err := tx.GetAccount("a")
			if err != nil {
				return err
			}
			if d := cmp.Diff(&want, got); d != "" {
				t.Errorf("reopen %d: account (-want +got):\n%s", i, d)
			}
			v, err := tx.GetMeta("bootstrap.done")
			if err != nil || v != "1" {
				t.Errorf("reopen %d: meta = %q, %v", i, v, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		versions, err := sqlite.AppliedMigrationsForTest(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(sqlite.KnownMigrationsForTest(), versions); d != "" {
			t.Errorf("reopen %d: applied migrations (-want +got):\n%s", i, d)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "newer.db")
	s := open(t, p)
	if err := sqlite.MarkMigrationForTest(t.Context(), s, 9999); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := sqlite.Open(t.Context(), sqlite.Config{Path: p}); err == nil {
		s.Close()
		t.Error("Open accepted a database migrated by a newer binary")
	}
}

// TestUpdateLocksAtBegin checks that Update starts with BEGIN IMMEDIATE: the
// write lock is held before fn runs any statement, so another writer fails
// at once (busy_timeout 0) instead of the two deadlocking on an upgrade.
func TestUpdateLocksAtBegin(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock.db")
	s := open(t, p)
	defer s.Close()
	other, err := sql.Open("sqlite", p+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tryWrite := func() error {
		conn, err := other.Conn(t.Context())
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		_, err = conn.ExecContext(t.Context(), "ROLLBACK")
		return err
	}
	if err := tryWrite(); err != nil {
		t.Fatalf("BEGIN IMMEDIATE outside Update: %v", err)
	}
	err = s.Update(t.Context(), func(tx registry.Tx) error {
		if err := tryWrite(); err == nil {
			t.Error("another connection took the write lock inside Update")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrationOrder checks that migrations apply by version number, not
// by file name or glob order, and that bad sets are refused.
func TestMigrationOrder(t *testing.T) {
	file := func(string) *fstest.MapFile { return &fstest.MapFile{Data: []byte("SELECT 1;")} }
	tests := []struct {
		name    string
		files   []string
		want    []string
		wantErr bool
	}{
		{
			name:  "numeric order, gaps allowed",
			files: []string{"0010_later.sql", "0003_oauth.sql", "0002_accounts_keys.sql", "0001_init.sql", "0009_x.sql"},
			want:  []string{"0001_init.sql", "0002_accounts_keys.sql", "0003_oauth.sql", "0009_x.sql", "0010_later.sql"},
		},
		{name: "shared version", files: []string{"0003_a.sql", "3_b.sql"}, wantErr: true},
		{name: "no version", files: []string{"init.sql"}, wantErr: true},
		{name: "zero version", files: []string{"0000_init.sql"}, wantErr: true},
		{name: "none", files: nil, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["migrations/"+f] = file(f)
			}
			got, err := sqlite.LoadMigrationsForTest(fsys)
			if tc.wantErr {
				if err == nil {
					t.Errorf("loaded %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("order (-want +got):\n%s", d)
			}
		})
	}
	t.Run("embedded", func(t *testing.T) {
		got := sqlite.KnownMigrationsForTest()
		if d := cmp.Diff([]int{1, 2}, got[:min(2, len(got))]); d != "" {
			t.Errorf("embedded migrations start (-want +got):\n%s", d)
		}
	})
}

// TestLaterMigrationAfter0002 applies a later migration that depends on
// 0002's columns to a database Open already migrated: only it runs.
func TestLaterMigrationAfter0002(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "later.db"))
	defer s.Close()
	known := sqlite.KnownMigrationsForTest()
	next := known[len(known)-1] + 1
	fsys := fstest.MapFS{
		fmt.Sprintf("migrations/%04d_later.sql", next): &fstest.MapFile{Data: []byte(`
CREATE TABLE oauth_clients (id TEXT NOT NULL PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts (id)) STRICT;
CREATE INDEX users_card_lookup ON users (card_id);`)},
	}
	names, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// Already applied: running them again would fail (tables exist).
		fsys["migrations/"+filepath.Base(name)] = &fstest.MapFile{Data: b}
	}
	if err := sqlite.ApplyMigrationsForTest(t.Context(), s, fsys); err != nil {
		t.Fatalf("applying %04d: %v", next, err)
	}
	got, err := sqlite.AppliedMigrationsForTest(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(append(known, next), got); d != "" {
		t.Errorf("applied (-want +got):\n%s", d)
	}
}

// TestUpgradeFrom0001 opens a database an older binary made (0001 only)
// and holding rows: 0002 is applied and the old rows read back with the
// new fields at their zero values.
func TestUpgradeFrom0001(t *testing.T) {
	p := filepath.Join(t.TempDir(), "old.db")
	if err := sqlite.MigrateToForTest(t.Context(), p, 1); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", p+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, name, type, created_at) VALUES ('a', 'A', 'vendor', 1)`,
		`INSERT INTO users (id, account_id, username) VALUES ('u1', 'a', 'one'), ('u2', 'a', 'two')`,
		`INSERT INTO api_keys (id, account_id, type, active) VALUES ('k', 'a', 'general', 1)`,
		`INSERT INTO key_values (id, key_id, public_id, use_count) VALUES ('v', 'k', 'pub', 2)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, p)
	defer s.Close()
	versions, err := sqlite.AppliedMigrationsForTest(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sqlite.KnownMigrationsForTest(), versions); d != "" {
		t.Errorf("applied migrations (-want +got):\n%s", d)
	}
	err = s.View(t.Context(), func(tx registry.Tx) error {
		a, err := tx.GetAccount("a")
		if err != nil {
			return err
		}
		if d := cmp.Diff(registry.AccountSettings{}, a.Settings); d != "" {
			t.Errorf("old account's settings (-want +got):\n%s", d)
		}
		us, err := tx.FindUsers(registry.UserFilter{AccountID: "a"})
		if err != nil {
			return err
		}
		if len(us) != 2 || us[0].CardID != "" || us[1].ShortID != "" {
			t.Errorf("old users = %+v, want two with empty card and short ids", us)
		}
		k, err := tx.GetAPIKey("k")
		if err != nil {
			return err
		}
		if k.Predefined {
			t.Error("old key reads back as predefined")
		}
		v, err := tx.GetKeyValue("v")
		if err != nil {
			return err
		}
		if v.EdgeDevice != "" || v.UseCount != 2 {
			t.Errorf("old value: EdgeDevice %q UseCount %d, want \"\" and 2", v.EdgeDevice, v.UseCount)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The new unique indexes hold on the migrated table.
	err = s.Update(t.Context(), func(tx registry.Tx) error {
		u, err := tx.GetUser("u1")
		if err != nil {
			return err
		}
		u.CardID = "card-1"
		if err := tx.UpdateUser(u); err != nil {
			return err
		}
		u2, err := tx.GetUser("u2")
		if err != nil {
			return err
		}
		u2.CardID = "card-1"
		return tx.UpdateUser(u2)
	})
	if !errors.Is(err, registry.ErrConflict) {
		t.Errorf("second user with the same card id: %v, want ErrConflict", err)
	}
}
