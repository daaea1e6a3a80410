package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/broker/backup"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

const backupHelp = `Back up a broker's data directory into one file encrypted with a passphrase.

Usage:
  edgetrust-broker backup --data-dir DIR --to FILE --passphrase-file P

It may run while a broker serves DIR: the SQLite store is copied as one
consistent snapshot on a read-only connection of its own, without the
serve lock, and the broker goes on serving. With it come every other file
of DIR: the TLS key and certificate (tls/), the keys in keys/ (the key
that seals the token-signing keys kept in the store, the QUIC reset key,
the webhook secrets' key) and anything else there. FILE is an age file encrypted with
the passphrase on the first line of P (at least 12 characters; e.g.
openssl rand -base64 24 > P), written 0600, replaced atomically.

A broker on PostgreSQL (--store postgres://…) is backed up with pg_dump;
keep DIR/keys, DIR/tls and the cluster key file beside the dump.

Restore with: edgetrust-broker restore --from FILE --data-dir NEWDIR --passphrase-file P

Flags:
`

const restoreHelp = `Make a new data directory from a backup.

Usage:
  edgetrust-broker restore --from FILE --data-dir NEWDIR --passphrase-file P

NEWDIR must not exist, or be empty. The files are written 0600 in
directories 0700 under NEWDIR.tmp-XXXX, checked against the backup's
manifest and renamed to NEWDIR at the end, so an interrupted restore
leaves no half NEWDIR (remove a leftover NEWDIR.tmp-XXXX). It prints when
the backup was taken. A broker served from NEWDIR has the same TLS
fingerprint, accounts, keys, endpoints and token-signing keys: the agents
log in without a new approval.

A restore undoes what happened after the backup was taken: revocations,
untrusts and key regenerations come back, endpoints registered later must
register again. See README, "Backup and restore".

Flags:
`

// minPassphrase is the shortest passphrase backup accepts.
const minPassphrase = 12

// runBackup runs "backup".
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := pflag.NewFlagSet("edgetrust-broker backup", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", "/var/lib/edgetrust-broker", "the broker's data directory (default $EDGETRUST_DATA_DIR, else the config file's, else this)")
	cfgFile := fs.String("config", "", "serve's config file, to take data-dir and store from (default $"+envConfig+")")
	storeURL := fs.String("store", "", "the broker's store (default $EDGETRUST_STORE); a postgres:// store is refused: use pg_dump")
	to := fs.String("to", "", "the backup file to write (replaced atomically)")
	passFile := fs.String("passphrase-file", "", "file whose first line is the passphrase")
	// Hidden: end-to-end tests under the race detector lower scrypt's cost.
	workFactor := fs.Int("scrypt-work-factor", 0, "scrypt's log2(N); 0 = age's default (18)")
	_ = fs.MarkHidden("scrypt-work-factor")
	help := fs.BoolP("help", "h", false, "show help")
	if err := fs.Parse(args); err != nil {
		return usageError{"backup: " + err.Error()}
	}
	if *help {
		fmt.Fprint(stdout, backupHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("backup takes no arguments, got %q", fs.Args())}
	}
	if *to == "" || *passFile == "" {
		return usageError{"backup needs --to FILE and --passphrase-file P"}
	}
	if *workFactor != 0 && (*workFactor < 10 || *workFactor > 22) {
		return usageError{"--scrypt-work-factor: want 10 to 22"}
	}
	dir, store, err := backupSource(fs, *dataDir, *storeURL, *cfgFile, getenv)
	if err != nil {
		return err
	}
	if isPostgres(store) {
		return usageError{"backup copies the embedded SQLite store only: back up a PostgreSQL store with pg_dump, and keep DATA_DIR/keys, DATA_DIR/tls and the cluster key file beside the dump (README, \"Backup and restore\")"}
	}
	if inside(*to, dir) {
		return usageError{fmt.Sprintf("--to %s is inside the data directory %s: write the backup elsewhere (a later backup would hold it)", *to, dir)}
	}
	pass, err := readSecretFile(*passFile)
	if err != nil {
		return usageError{"--passphrase-file: " + err.Error()}
	}
	if len([]rune(pass)) < minPassphrase {
		return usageError{fmt.Sprintf("--passphrase-file: the passphrase is shorter than %d characters: write a longer one (e.g. openssl rand -base64 24 > P)", minPassphrase)}
	}
	progress := &prefixWriter{w: stderr, prefix: "edgetrust-broker backup: "}
	fmt.Fprintf(progress, "backing up %s\n", dir)
	m, size, err := writeBackup(ctx, *to, backup.Config{DataDir: dir, Passphrase: pass, WorkFactor: *workFactor, BrokerVersion: version, Progress: progress})
	if err != nil {
		return fmt.Errorf("backup of %s: %w", dir, err)
	}
	fmt.Fprintf(stdout, "backup of %s taken at %s: %s (%d files, %d bytes)\n", dir, m.TakenAt.Format(time.RFC3339), *to, len(m.Files), size)
	return nil
}

// backupSource is the data directory and store to back up: the flag, else
// the environment, else serve's config file, else the default.
func backupSource(fs *pflag.FlagSet, dataDir, store, cfgFile string, getenv func(string) string) (string, string, error) {
	if !fs.Changed("config") {
		cfgFile = getenv(envConfig)
	}
	sfs, o := newServeFlagSet()
	for name, val := range map[string]string{"data-dir": dataDir, "store": store} {
		if fs.Changed(name) {
			if err := sfs.Set(name, val); err != nil {
				return "", "", usageError{err.Error()}
			}
		}
	}
	if _, err := loadConfig(sfs, cfgFile, getenv); err != nil {
		return "", "", err
	}
	if o.dataDir == "" {
		return "", "", usageError{"--data-dir is empty: name the broker's data directory"}
	}
	return o.dataDir, o.storeURL, nil
}

// inside reports whether path is in dir (or below it).
func inside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && filepath.IsLocal(rel)
}

func isPostgres(store string) bool {
	u := strings.ToLower(store)
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// writeBackup writes the backup to path atomically: a temporary file
// (0600) beside it, fsynced, renamed over path.
func writeBackup(ctx context.Context, path string, cfg backup.Config) (backup.Manifest, int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return backup.Manifest{}, 0, fmt.Errorf("--to: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	cw := &countWriter{w: f}
	m, err := backup.Create(ctx, cfg, cw)
	if err != nil {
		return m, 0, err
	}
	if err := f.Sync(); err != nil {
		return m, 0, err
	}
	if err := f.Close(); err != nil {
		return m, 0, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return m, 0, err
	}
	done = true
	return m, cw.n, atomicfile.SyncDir(filepath.Dir(path))
}

// runRestore runs "restore".
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("edgetrust-broker restore", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "the backup file")
	dataDir := fs.String("data-dir", "", "the new data directory: must not exist, or be empty")
	passFile := fs.String("passphrase-file", "", "file whose first line is the passphrase")
	help := fs.BoolP("help", "h", false, "show help")
	if err := fs.Parse(args); err != nil {
		return usageError{"restore: " + err.Error()}
	}
	if *help {
		fmt.Fprint(stdout, restoreHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("restore takes no arguments, got %q", fs.Args())}
	}
	if *from == "" || *dataDir == "" || *passFile == "" {
		return usageError{"restore needs --from FILE, --data-dir NEWDIR and --passphrase-file P"}
	}
	pass, err := readSecretFile(*passFile)
	if err != nil {
		return usageError{"--passphrase-file: " + err.Error()}
	}
	if err := backup.CheckTarget(*dataDir); err != nil {
		return err
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer f.Close()
	m, err := backup.Restore(ctx, f, *dataDir, pass, &prefixWriter{w: stderr, prefix: "edgetrust-broker restore: "})
	if errors.Is(err, backup.ErrWrongPassphrase) {
		return fmt.Errorf("wrong passphrase: %s was not encrypted with the passphrase in %s", *from, *passFile)
	}
	if err != nil {
		return fmt.Errorf("restoring %s: %w", *from, err)
	}
	fmt.Fprintf(stdout, "backup taken at %s (edgetrust-broker %s, %d files) restored into %s\n", m.TakenAt.Format(time.RFC3339), m.BrokerVersion, len(m.Files), *dataDir)
	fmt.Fprintf(stdout, "what happened after %s is undone: see README, \"Backup and restore\"\n", m.TakenAt.Format(time.RFC3339))
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// prefixWriter starts each line written with prefix (the caller writes
// whole lines).
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
