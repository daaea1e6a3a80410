// Package backup copies a broker's data directory, while a broker serves
// it, into one file encrypted with a passphrase, and makes a new data
// directory from such a file.
//
// The file is an age file (filippo.io/age, scrypt recipient) holding a
// tar: manifest.json first (when the backup was taken, and each file's
// size and SHA-256), then every file under data/. The SQLite store is a
// consistent snapshot taken with VACUUM INTO on a read-only connection of
// its own, without the serve lock (DATA_DIR/lock): a serving broker goes
// on writing. Every other regular file of the data directory comes along
// as it is (tls/, keys/ with the token-signing and QUIC reset keys, and
// whatever later versions keep there), except the lock, the store's
// journal files and atomicfile's leftovers.
package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	_ "modernc.org/sqlite" // the "sqlite" driver, for the snapshot
)

// StoreFile is the embedded store's file in the data directory
// (broker/store.go opens it).
const StoreFile = "edgetrust.db"

// FormatVersion is the manifest's format; Restore refuses a newer one.
const FormatVersion = 1

// manifestName and dataPrefix lay out the tar.
const (
	manifestName = "manifest.json"
	dataPrefix   = "data/"
)

// Manifest describes a backup; it is the tar's first entry.
type Manifest struct {
	Format        int       `json:"format"`
	TakenAt       time.Time `json:"taken_at"`
	BrokerVersion string    `json:"broker_version,omitempty"`
	Files         []File    `json:"files"`
}

// File is one file of the data directory in a backup.
type File struct {
	Path   string `json:"path"` // slash-separated, relative to the data directory
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Config says what to back up and how. DataDir and Passphrase are needed.
type Config struct {
	DataDir    string
	Passphrase string
	// WorkFactor is scrypt's log2(N); 0 means age's default (18). Tests
	// lower it.
	WorkFactor int
	// BrokerVersion goes in the manifest.
	BrokerVersion string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Progress gets a line per step (nil: none).
	Progress io.Writer
}

// skipped reports whether rel, a data directory path, stays out of a
// backup: the lock, the live store and its journals (the snapshot replaces
// them), and atomicfile's leftover temporary files.
func skipped(rel string) bool {
	base := filepath.Base(rel)
	switch {
	case rel == "lock":
		return true
	case rel == StoreFile, strings.HasPrefix(rel, StoreFile+"-"):
		return true
	case strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp-"):
		return true
	}
	return false
}

// Create writes an encrypted backup of cfg.DataDir to w and returns its
// manifest. It fails when the directory holds no SQLite store (a broker
// on PostgreSQL: use pg_dump). Nothing in the data directory changes.
func Create(ctx context.Context, cfg Config, w io.Writer) (Manifest, error) {
	if cfg.DataDir == "" || cfg.Passphrase == "" {
		return Manifest{}, errors.New("backup.Create: Config.DataDir or Config.Passphrase is empty")
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	dbPath := filepath.Join(cfg.DataDir, StoreFile)
	if _, err := os.Stat(dbPath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Manifest{}, fmt.Errorf("%s holds no %s: name the data directory of a broker on the embedded SQLite store (a PostgreSQL store is backed up with pg_dump)", cfg.DataDir, StoreFile)
		}
		return Manifest{}, err
	}
	tmp, err := os.MkdirTemp("", "edgetrust-backup-") // 0700: the snapshot holds hashes
	if err != nil {
		return Manifest{}, err
	}
	defer os.RemoveAll(tmp)

	snap := filepath.Join(tmp, StoreFile)
	takenAt := now().UTC()
	if err := snapshot(ctx, dbPath, snap); err != nil {
		return Manifest{}, fmt.Errorf("snapshot of %s: %w", dbPath, err)
	}
	m := Manifest{Format: FormatVersion, TakenAt: takenAt, BrokerVersion: cfg.BrokerVersion}
	sources := map[string]string{StoreFile: snap}
	f, err := describe(snap, StoreFile)
	if err != nil {
		return Manifest{}, err
	}
	m.Files = append(m.Files, f)
	fmt.Fprintf(progress, "store snapshot taken at %s (%d bytes)\n", takenAt.Format(time.RFC3339), f.Size)

	err = filepath.WalkDir(cfg.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(cfg.DataDir, path)
		if err != nil || rel == "." || d.IsDir() {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skipped(rel) {
			return nil
		}
		if !d.Type().IsRegular() {
			// A link to a file (a key kept elsewhere) is backed up as the
			// file it names; anything else is said and left.
			st, err := os.Stat(path)
			if d.Type()&fs.ModeSymlink == 0 || err != nil || !st.Mode().IsRegular() {
				fmt.Fprintf(progress, "leaving out %s: not a regular file\n", rel)
				return nil
			}
		}
		f, err := describe(path, rel)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		sources[rel] = path
		return nil
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("reading %s: %w", cfg.DataDir, err)
	}
	if err := write(ctx, w, cfg, m, sources); err != nil {
		return Manifest{}, err
	}
	fmt.Fprintf(progress, "%d files encrypted\n", len(m.Files))
	return m, nil
}

// snapshot copies the SQLite database at src into dst (which must not
// exist) in one read transaction: VACUUM INTO on a read-only connection
// of its own, so a broker serving src is neither stopped nor locked out
// (the store is in WAL mode: readers never block its writer).
//
// A read-only connection to a WAL database whose -wal and -shm files are
// gone (no broker serves it) would create them, owned by whoever runs the
// backup, and could not remove them: the broker started later under its
// own user might not open them. So without a -wal file the database is
// read as immutable, which creates nothing; should a broker start
// meanwhile (a -wal file appears, or the database changes), the snapshot
// is taken again the ordinary way, the broker's files then being there.
func snapshot(ctx context.Context, src, dst string) error {
	before, err := os.Stat(src)
	if err != nil {
		return err
	}
	_, werr := os.Stat(src + "-wal")
	if errors.Is(werr, fs.ErrNotExist) {
		if err := vacuumInto(ctx, src, dst, true); err != nil {
			return err
		}
		after, err := os.Stat(src)
		_, werr := os.Stat(src + "-wal")
		if err == nil && errors.Is(werr, fs.ErrNotExist) && after.Size() == before.Size() && after.ModTime().Equal(before.ModTime()) {
			return check(ctx, dst)
		}
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	if err := vacuumInto(ctx, src, dst, false); err != nil {
		return err
	}
	return check(ctx, dst)
}

func vacuumInto(ctx context.Context, src, dst string, immutable bool) error {
	src, err := filepath.Abs(src) // a relative path would be read as a URI's authority
	if err != nil {
		return err
	}
	q := "mode=ro&_pragma=busy_timeout(10000)"
	if immutable {
		q += "&immutable=1"
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: src, RawQuery: q}).String())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return err
	}
	return os.Chmod(dst, 0o600)
}

// check runs SQLite's quick_check on the snapshot: a backup is only
// written of a sound database.
func check(ctx context.Context, path string) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro&immutable=1"}).String())
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("the snapshot fails SQLite's quick_check: %s", res)
	}
	return nil
}

// describe hashes the file at path.
func describe(path, rel string) (File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return File{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return File{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// write encrypts the tar of m and its files (read from sources) to w. A
// file whose content changed since describe read it is an error: a
// backup is only what its manifest says.
func write(ctx context.Context, w io.Writer, cfg Config, m Manifest, sources map[string]string) error {
	r, err := age.NewScryptRecipient(cfg.Passphrase)
	if err != nil {
		return err
	}
	if cfg.WorkFactor != 0 {
		r.SetWorkFactor(cfg.WorkFactor)
	}
	enc, err := age.Encrypt(w, r)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(enc)
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Size: size, Mode: 0o600, ModTime: m.TakenAt, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(manifestName, int64(len(mj)))); err != nil {
		return err
	}
	if _, err := tw.Write(mj); err != nil {
		return err
	}
	for _, f := range m.Files {
		if err := addFile(ctx, tw, hdr(dataPrefix+f.Path, f.Size), sources[f.Path], f); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return enc.Close()
}

func addFile(ctx context.Context, tw *tar.Writer, h *tar.Header, path string, f File) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, sum), io.LimitReader(ctxReader{ctx, fh}, f.Size+1))
	if err != nil {
		return err
	}
	if n != f.Size || hex.EncodeToString(sum.Sum(nil)) != f.SHA256 {
		return fmt.Errorf("%s changed while it was backed up: run the backup again", path)
	}
	return nil
}

// ctxReader reads r until ctx ends: a cancelled backup or restore stops
// at its next read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
