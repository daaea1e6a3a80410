package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// newBackupDir makes a data directory with an SQLite store and a key, and
// a passphrase file.
func newBackupDir(t *testing.T) (dataDir, pass string) {
	t.Helper()
	work := t.TempDir()
	dataDir = filepath.Join(work, "data")
	if err := os.MkdirAll(filepath.Join(dataDir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "keys", "token-signing.pem"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "edgetrust.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	pass = filepath.Join(work, "pass")
	if err := os.WriteFile(pass, []byte("a passphrase long enough\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dataDir, pass
}

// backup and restore from the command line: what each refuses, with
// which exit status, and a round trip.
func TestBackupRestoreCommands(t *testing.T) {
	dataDir, pass := newBackupDir(t)
	work := filepath.Dir(dataDir)
	short := filepath.Join(work, "short")
	wrong := filepath.Join(work, "wrong")
	os.WriteFile(short, []byte("short\n"), 0o600)
	os.WriteFile(wrong, []byte("another passphrase entirely\n"), 0o600)
	full := filepath.Join(work, "full")
	os.MkdirAll(full, 0o700)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	file := filepath.Join(work, "b.age")
	restored := filepath.Join(work, "restored")
	wf := []string{"--scrypt-work-factor", "10"}

	steps := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string
		stderr string
	}{
		{"backup help", []string{"backup", "--help"}, nil, 0, "while a broker serves DIR", ""},
		{"restore help", []string{"restore", "-h"}, nil, 0, "NEWDIR must not exist", ""},
		{"backup without --to", []string{"backup", "--data-dir", dataDir, "--passphrase-file", pass}, nil, 2, "", "needs --to FILE and --passphrase-file P"},
		{"backup of postgres", append([]string{"backup", "--data-dir", dataDir, "--to", file, "--passphrase-file", pass, "--store", "postgres://u@h/db"}, wf...), nil, 2, "", "pg_dump"},
		{"backup of postgres from the environment", append([]string{"backup", "--data-dir", dataDir, "--to", file, "--passphrase-file", pass}, wf...), map[string]string{"EDGETRUST_STORE": "postgres://u@h/db"}, 2, "", "pg_dump"},
		{"backup into the data directory", append([]string{"backup", "--data-dir", dataDir, "--to", filepath.Join(dataDir, "keys", "b.age"), "--passphrase-file", pass}, wf...), nil, 2, "", "is inside the data directory"},
		{"backup into a missing directory", append([]string{"backup", "--data-dir", dataDir, "--to", filepath.Join(work, "no", "b.age"), "--passphrase-file", pass}, wf...), nil, 1, "", "--to: open"},
		{"short passphrase", append([]string{"backup", "--data-dir", dataDir, "--to", file, "--passphrase-file", short}, wf...), nil, 2, "", "shorter than 12 characters"},
		{"no store", append([]string{"backup", "--data-dir", t.TempDir(), "--to", file, "--passphrase-file", pass}, wf...), nil, 1, "", "holds no edgetrust.db"},
		{"backup", append([]string{"backup", "--data-dir", dataDir, "--to", file, "--passphrase-file", pass}, wf...), nil, 0, "backup of " + dataDir + " taken at ", "2 files encrypted"},
		{"backup again replaces the file", append([]string{"backup", "--data-dir", dataDir, "--to", file, "--passphrase-file", pass}, wf...), nil, 0, "taken at", ""},
		{"restore without --data-dir", []string{"restore", "--from", file, "--passphrase-file", pass}, nil, 2, "", "needs --from FILE, --data-dir NEWDIR and --passphrase-file P"},
		{"wrong passphrase", []string{"restore", "--from", file, "--data-dir", restored, "--passphrase-file", wrong}, nil, 1, "", "wrong passphrase: " + file + " was not encrypted with the passphrase in " + wrong},
		{"into a full directory", []string{"restore", "--from", file, "--data-dir", full, "--passphrase-file", pass}, nil, 1, "", "exists and is not empty"},
		{"missing backup", []string{"restore", "--from", file + ".no", "--data-dir", restored, "--passphrase-file", pass}, nil, 1, "", "--from: open"},
		{"restore", []string{"restore", "--from", file, "--data-dir", restored, "--passphrase-file", pass}, nil, 0, "backup taken at ", "passphrase right: writing " + restored},
		{"restore again", []string{"restore", "--from", file, "--data-dir", restored, "--passphrase-file", pass}, nil, 1, "", "exists and is not empty"},
		{"flags before the command", []string{"--to", file, "backup"}, nil, 2, "", "unknown flag: --to"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), s.args, &out, &errb, func(k string) string { return s.env[k] })
			if code != s.code || !strings.Contains(out.String(), s.stdout) || !strings.Contains(errb.String(), s.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errb.String(), s.code, s.stdout, s.stderr)
			}
			if strings.Contains(errb.String(), "passphrase long enough") {
				t.Errorf("stderr repeats the passphrase")
			}
			if code != 0 {
				lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
				if !strings.HasPrefix(lines[len(lines)-1], "edgetrust-broker: ") {
					t.Errorf("error line %q", lines[len(lines)-1])
				}
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(restored, "keys", "token-signing.pem")); err != nil || string(b) != "key" {
		t.Errorf("restored key: %q, %v", b, err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v", st, err)
	}
	if left, _ := filepath.Glob(filepath.Join(work, ".b.age.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// backup takes data-dir from serve's config file, the flag overriding it.
func TestBackupFromConfigFile(t *testing.T) {
	dataDir, pass := newBackupDir(t)
	cfg := writeConfig(t, "data-dir: "+dataDir+"\nlisten: 127.0.0.1:0\n")
	file := filepath.Join(t.TempDir(), "b.age")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"backup", "--config", cfg, "--to", file, "--passphrase-file", pass, "--scrypt-work-factor", "10"}, &out, &errb, func(string) string { return "" })
	if code != 0 || !strings.Contains(out.String(), "backup of "+dataDir) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	code = run(context.Background(), []string{"backup", "--config", cfg, "--data-dir", t.TempDir(), "--to", file, "--passphrase-file", pass}, &out, &errb, func(string) string { return "" })
	if code != 1 || !strings.Contains(errb.String(), "holds no edgetrust.db") {
		t.Fatalf("--data-dir over the file: exit %d, stderr %q", code, errb.String())
	}
}
