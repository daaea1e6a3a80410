package backup

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testPass = "correct horse battery staple"

// newDataDir makes a data directory like a broker's: a WAL-mode SQLite
// store with n rows, tls/, keys/, the lock and a leftover temporary file.
func newDataDir(t *testing.T, n int) (string, *sql.DB) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	files := map[string]string{
		"tls/broker.key":                "tls key",
		"tls/broker.crt":                "certificate",
		"keys/token-signing.pem":        "signing key",
		"keys/quic-stateless-reset.key": "reset key",
		"keys/token-signing-old.pem":    "a key some later version keeps",
		"initial-admin-password":        "pw",
		"lock":                          "123",
		"keys/.token-signing.pem.tmp-9": "leftover",
	}
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "linked.key")
	if err := os.WriteFile(outside, []byte("a key kept elsewhere"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "keys", "linked.key")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "keys", "dangling")); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, StoreFile)+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE endpoints (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := db.Exec("INSERT INTO endpoints (name) VALUES (?)", "e"); err != nil {
			t.Fatal(err)
		}
	}
	return dir, db
}

func rows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check of %s: %q, %v", path, ok, err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM endpoints").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testConfig(dir string) Config {
	return Config{DataDir: dir, Passphrase: testPass, WorkFactor: 10, BrokerVersion: "test",
		Now: func() time.Time { return time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC) }}
}

// tree maps each file under dir to its content and mode, and each
// directory to its mode.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			out[rel] = "link"
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = st.Mode().Perm().String()
			return nil
		}
		if rel == StoreFile {
			out[rel] = st.Mode().Perm().String()
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = st.Mode().Perm().String() + " " + string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A restore makes the data directory the backup saw: every file but the
// lock and leftovers, 0600 in directories 0700, the store's rows.
func TestBackupRestoreRoundTrip(t *testing.T) {
	dir, _ := newDataDir(t, 5)
	var enc, progress bytes.Buffer
	cfg := testConfig(dir)
	cfg.Progress = &progress
	m, err := Create(context.Background(), cfg, &enc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc.Bytes(), []byte("signing key")) {
		t.Fatal("the backup holds a key in clear")
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	wantPaths := []string{StoreFile, "initial-admin-password", "keys/linked.key", "keys/quic-stateless-reset.key", "keys/token-signing-old.pem", "keys/token-signing.pem", "tls/broker.crt", "tls/broker.key"}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if !strings.Contains(progress.String(), "8 files encrypted") || !strings.Contains(progress.String(), "leaving out keys/dangling: not a regular file") {
		t.Errorf("progress %q", progress.String())
	}

	target := filepath.Join(t.TempDir(), "restored")
	got, err := Restore(context.Background(), bytes.NewReader(enc.Bytes()), target, testPass, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if !got.TakenAt.Equal(cfg.Now()) {
		t.Errorf("taken at %v", got.TakenAt)
	}
	want := map[string]string{
		"./": "-rwx------", "tls/": "-rwx------", "keys/": "-rwx------",
		StoreFile:                       "-rw-------",
		"tls/broker.key":                "-rw------- tls key",
		"tls/broker.crt":                "-rw------- certificate",
		"keys/token-signing.pem":        "-rw------- signing key",
		"keys/quic-stateless-reset.key": "-rw------- reset key",
		"keys/token-signing-old.pem":    "-rw------- a key some later version keeps",
		"keys/linked.key":               "-rw------- a key kept elsewhere",
		"initial-admin-password":        "-rw------- pw",
	}
	if diff := cmp.Diff(want, tree(t, target)); diff != "" {
		t.Errorf("restored tree (-want +got):\n%s", diff)
	}
	if n := rows(t, filepath.Join(target, StoreFile)); n != 5 {
		t.Errorf("restored store has %d rows, want 5", n)
	}
	leftovers, _ := filepath.Glob(target + ".tmp-*")
	if len(leftovers) > 0 {
		t.Errorf("temporary directories left: %v", leftovers)
	}
}

// The snapshot is consistent while another connection writes all along,
// and the backup takes no lock the writer would wait for.
func TestBackupWhileWriting(t *testing.T) {
	dir, db := newDataDir(t, 100)
	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			tx, err := db.Begin()
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < 10; i++ {
				if _, err := tx.Exec("INSERT INTO endpoints (name) VALUES (?)", strings.Repeat("x", 200)); err != nil {
					t.Error(err)
					tx.Rollback()
					return
				}
			}
			if err := tx.Commit(); err != nil {
				t.Error(err)
				return
			}
			written.Add(10)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for written.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // poll: let the writer get going
	}
	var enc bytes.Buffer
	_, err := Create(context.Background(), testConfig(dir), &enc)
	before := written.Load()
	for written.Load() < before+20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the writer goes on after the backup
	}
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if written.Load() < before+20 {
		t.Fatal("the writer made no progress after the backup")
	}
	target := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(context.Background(), &enc, target, testPass, nil); err != nil {
		t.Fatal(err)
	}
	n := rows(t, filepath.Join(target, StoreFile))
	if n < 100 || (n-100)%10 != 0 || int64(n-100) > written.Load() {
		t.Errorf("restored %d rows: not a whole number of the writer's transactions (10 rows each) after the first 100", n)
	}
}

// What Restore refuses, and that a refused or failed restore leaves
// neither the target nor a temporary directory.
func TestRestoreRefusals(t *testing.T) {
	dir, _ := newDataDir(t, 1)
	var enc bytes.Buffer
	if _, err := Create(context.Background(), testConfig(dir), &enc); err != nil {
		t.Fatal(err)
	}
	good := enc.Bytes()
	tests := []struct {
		name    string
		backup  []byte
		pass    string
		prepare func(target string)
		wantErr string
		is      error
	}{
		{"wrong passphrase", good, "not it", nil, "wrong passphrase", ErrWrongPassphrase},
		{"target not empty", good, testPass, func(target string) {
			os.MkdirAll(target, 0o700)
			os.WriteFile(filepath.Join(target, "x"), nil, 0o600)
		}, "exists and is not empty", ErrNotEmpty},
		{"target a file", good, testPass, func(target string) { os.WriteFile(target, nil, 0o600) }, "not a directory", nil},
		{"truncated", good[:len(good)-100], testPass, nil, "damaged backup", nil},
		{"flipped byte", flip(good, len(good)-200), testPass, nil, "damaged backup", nil},
		{"not age", []byte("hello\n"), testPass, nil, "not an edgetrust backup", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			target := filepath.Join(parent, "restored")
			if tc.prepare != nil {
				tc.prepare(target)
			}
			before, _ := os.ReadDir(parent)
			_, err := Restore(context.Background(), bytes.NewReader(tc.backup), target, tc.pass, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("the error repeats the passphrase")
			}
			after, _ := os.ReadDir(parent)
			if len(after) != len(before) {
				t.Errorf("the failed restore left %d entries in the parent, had %d", len(after), len(before))
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

// An empty directory may receive a restore; a missing parent is named.
func TestRestoreTargets(t *testing.T) {
	dir, _ := newDataDir(t, 1)
	var enc bytes.Buffer
	if _, err := Create(context.Background(), testConfig(dir), &enc); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), bytes.NewReader(enc.Bytes()), empty, testPass, nil); err != nil {
		t.Fatalf("into an empty directory: %v", err)
	}
	if st, _ := os.Stat(empty); st.Mode().Perm() != 0o700 {
		t.Errorf("restored directory mode %v, want 0700", st.Mode().Perm())
	}
	orphan := filepath.Join(t.TempDir(), "missing", "data")
	if err := CheckTarget(orphan); err == nil || !strings.Contains(err.Error(), "create it first") {
		t.Errorf("missing parent: %v", err)
	}
}

// A backup entry that would land outside the target is refused.
func TestRestoreRefusesEscapingPaths(t *testing.T) {
	src := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(src, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../evil", "/etc/evil", "keys/../../evil"} {
		t.Run(p, func(t *testing.T) {
			f, err := describe(src, p)
			if err != nil {
				t.Fatal(err)
			}
			m := Manifest{Format: FormatVersion, Files: []File{f}}
			var enc bytes.Buffer
			if err := write(context.Background(), &enc, testConfig(""), m, map[string]string{p: src}); err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			_, err = Restore(context.Background(), &enc, filepath.Join(parent, "restored"), testPass, nil)
			if err == nil || !strings.Contains(err.Error(), "unexpected entry") {
				t.Fatalf("err = %v", err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(parent), "evil")); err == nil {
				t.Fatal("a file was written outside the target")
			}
		})
	}
}

// Without an SQLite store (a broker on PostgreSQL) backup points to
// pg_dump and writes nothing.
func TestBackupWithoutStore(t *testing.T) {
	var enc bytes.Buffer
	_, err := Create(context.Background(), testConfig(t.TempDir()), &enc)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || enc.Len() != 0 {
		t.Fatalf("err = %v, %d bytes written", err, enc.Len())
	}
}

// A data directory no broker serves (the store closed, its WAL files
// gone) backs up too, and the backup leaves no file behind in it.
func TestBackupOfStoppedBroker(t *testing.T) {
	dir, db := newDataDir(t, 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	var enc bytes.Buffer
	if _, err := Create(context.Background(), testConfig(dir), &enc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
		t.Errorf("the backup changed the data directory (-before +after):\n%s", diff)
	}
	target := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(context.Background(), &enc, target, testPass, nil); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, filepath.Join(target, StoreFile)); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

// A cancelled backup or restore (SIGINT) stops and leaves nothing.
func TestCancelled(t *testing.T) {
	dir, _ := newDataDir(t, 1)
	var enc bytes.Buffer
	if _, err := Create(context.Background(), testConfig(dir), &enc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Create(ctx, testConfig(dir), io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled backup: %v", err)
	}
	parent := t.TempDir()
	if _, err := Restore(ctx, &enc, filepath.Join(parent, "restored"), testPass, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled restore: %v", err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Errorf("a cancelled restore left %v", left)
	}
}
