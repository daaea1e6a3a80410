package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// ErrWrongPassphrase is returned by Restore when the backup was not
// encrypted with the passphrase given.
var ErrWrongPassphrase = errors.New("wrong passphrase: the backup was not encrypted with it")

// ErrNotEmpty is returned by Restore when the target exists and is not an
// empty directory.
var ErrNotEmpty = errors.New("exists and is not empty")

// maxManifest bounds the manifest read into memory.
const maxManifest = 16 << 20

// CheckTarget checks, before anything is read, that dir may receive a
// restore: it does not exist or is an empty directory, and its parent
// exists.
func CheckTarget(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(filepath.Clean(dir))
		if st, err := os.Stat(parent); err != nil || !st.IsDir() {
			return fmt.Errorf("%s: its parent %s is not a directory: create it first", dir, parent)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("%s %w: restore into a new directory", dir, ErrNotEmpty)
	}
	return nil
}

// Restore decrypts the backup read from r with passphrase and makes the
// data directory dir from it, which must not exist or be empty (see
// CheckTarget). The files are written 0600 in directories 0700 under a
// temporary sibling, dir.tmp-XXXX, checked against the manifest, synced,
// and renamed to dir at the end: an interrupted restore leaves no dir,
// only the temporary sibling. A wrong passphrase is ErrWrongPassphrase.
// progress (nil: none) gets a line once the passphrase is known right.
//
// Cancelling ctx (SIGINT) stops it, the temporary directory removed.
func Restore(ctx context.Context, r io.Reader, dir, passphrase string, progress io.Writer) (Manifest, error) {
	if err := CheckTarget(dir); err != nil {
		return Manifest{}, err
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return Manifest{}, err
	}
	dec, err := age.Decrypt(ctxReader{ctx, r}, id)
	if err != nil && ctx.Err() != nil {
		return Manifest{}, fmt.Errorf("restore interrupted: %w", ctx.Err())
	}
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return Manifest{}, ErrWrongPassphrase
		}
		return Manifest{}, fmt.Errorf("not an edgetrust backup (or a damaged one): %w", err)
	}
	if progress != nil {
		fmt.Fprintf(progress, "passphrase right: writing %s\n", dir)
	}
	dir = filepath.Clean(dir)
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-") // 0700
	if err != nil {
		return Manifest{}, err
	}
	m, err := extract(tar.NewReader(dec), tmp)
	if err == nil {
		err = finish(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		if ctx.Err() != nil {
			return Manifest{}, fmt.Errorf("restore interrupted, nothing written: %w", ctx.Err())
		}
		return Manifest{}, err
	}
	return m, nil
}

// extract writes the tar's files into tmp and checks them against its
// manifest: the same files, sizes and SHA-256 sums, no other entry.
func extract(tr *tar.Reader, tmp string) (Manifest, error) {
	var m Manifest
	h, err := tr.Next()
	if err != nil {
		return m, fmt.Errorf("damaged backup: %w", err)
	}
	if h.Name != manifestName {
		return m, fmt.Errorf("not an edgetrust backup: no %s first", manifestName)
	}
	if err := json.NewDecoder(io.LimitReader(tr, maxManifest)).Decode(&m); err != nil {
		return m, fmt.Errorf("not an edgetrust backup: %s: %w", manifestName, err)
	}
	if m.Format < 1 || m.Format > FormatVersion {
		return m, fmt.Errorf("backup format %d: this edgetrust-broker reads format 1 to %d; restore with a newer one", m.Format, FormatVersion)
	}
	want := map[string]File{}
	for _, f := range m.Files {
		want[f.Path] = f
	}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("damaged backup: %w", err)
		}
		rel, ok := strings.CutPrefix(h.Name, dataPrefix)
		f, listed := want[rel]
		if !ok || !listed || h.Typeflag != tar.TypeReg || h.Size != f.Size || !localPath(rel) {
			return m, fmt.Errorf("damaged backup: unexpected entry %q", h.Name)
		}
		delete(want, rel)
		if err := writeFile(filepath.Join(tmp, filepath.FromSlash(rel)), tr, f); err != nil {
			return m, err
		}
	}
	if len(want) > 0 {
		return m, fmt.Errorf("damaged backup: %d files of its manifest are missing", len(want))
	}
	if _, err := os.Stat(filepath.Join(tmp, StoreFile)); err != nil {
		return m, fmt.Errorf("damaged backup: no %s", StoreFile)
	}
	return m, nil
}

// localPath reports whether rel is a clean relative slash path inside the
// directory (no "..", not absolute).
func localPath(rel string) bool {
	return rel != "" && path.Clean(rel) == rel && filepath.IsLocal(filepath.FromSlash(rel))
}

// writeFile writes r's content to p (0600, parents 0700), checks it
// against f and fsyncs it.
func writeFile(p string, r io.Reader, f File) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(fh, sum), io.LimitReader(r, f.Size+1))
	if err == nil && (n != f.Size || hex.EncodeToString(sum.Sum(nil)) != f.SHA256) {
		err = fmt.Errorf("damaged backup: %s does not match its manifest", f.Path)
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// finish syncs every directory under tmp and renames tmp to dir (an empty
// dir is removed first), then syncs their parent.
func finish(tmp, dir string) error {
	err := filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return atomicfile.SyncDir(p)
	})
	if err != nil {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", dir, err) // not empty any more, or not ours
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dir))
}
