package backup

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// seedTar is a tar of a manifest and the files named in it.
func seedTar(f *testing.F, files map[string]string, listed []File) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mj, _ := json.Marshal(Manifest{Format: FormatVersion, Files: listed})
	tw.WriteHeader(&tar.Header{Name: manifestName, Size: int64(len(mj)), Mode: 0o600})
	tw.Write(mj)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(content)), Mode: 0o600})
		tw.Write([]byte(content))
	}
	tw.Close()
	return b.Bytes()
}

// FuzzExtract: whatever tar a backup holds (age authenticates the file,
// but whoever knows the passphrase may craft one), extract never panics
// and never writes outside its directory.
func FuzzExtract(f *testing.F) {
	sum := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // "hello"
	f.Add(seedTar(f, map[string]string{"data/edgetrust.db": "hello"}, []File{{Path: StoreFile, Size: 5, SHA256: sum}}))
	f.Add(seedTar(f, map[string]string{"data/../x": "hello"}, []File{{Path: "../x", Size: 5, SHA256: sum}}))
	f.Add(seedTar(f, map[string]string{"data/keys/k": "hello"}, []File{{Path: "keys/k", Size: 1, SHA256: sum}}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		tmp := filepath.Join(parent, "target")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		extract(tar.NewReader(bytes.NewReader(data)), tmp)
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 1 {
			t.Fatalf("extract wrote beside its directory: %v %v", entries, err)
		}
	})
}
