package state

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIdentityRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.ClientID == "" || len(first.Key) == 0 {
		t.Fatalf("empty identity: %+v", first)
	}
	second, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("identity changed on reload (-want +got):\n%s", diff)
	}
	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Join(dir, IdentityFile), 0o600)
	checkNoTemp(t, dir)
}

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(State{State: Unregistered}, got); diff != "" {
		t.Errorf("missing file (-want +got):\n%s", diff)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := State{
		EndpointID: "e1", State: Trusted, LastError: "", Broker: "b:1", AccountID: "a",
		AccessToken: "at", AccessExpiresAt: now.Add(time.Minute),
		RefreshToken: "rt", RefreshExpiresAt: now.Add(time.Hour), UpdatedAt: now,
	}
	for i := 0; i < 3; i++ { // overwrite repeatedly
		if err := Save(dir, want); err != nil {
			t.Fatal(err)
		}
	}
	got, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Join(dir, StateFile), 0o600)
	checkNoTemp(t, dir)

	st := got.Status()
	if st.State != Trusted || !st.HasAccessToken {
		t.Errorf("Status() = %+v", st)
	}
}

func TestSaveRejectsUnknownState(t *testing.T) {
	if err := Save(t.TempDir(), State{State: "bogus"}); err == nil {
		t.Fatal("Save accepted an unknown state")
	}
}

func TestCorruptFiles(t *testing.T) {
	tests := []struct {
		name, file, content string
	}{
		{"empty identity", IdentityFile, ""},
		{"blank identity", IdentityFile, "  \n"},
		{"truncated identity", IdentityFile, `{"client_id": "6f1c`},
		{"null identity", IdentityFile, "null"},
		{"bad client id", IdentityFile, `{"client_id":"x","key_type":"ed25519","private_key_seed":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`},
		{"short seed", IdentityFile, `{"client_id":"6f1c2a9e-7a43-4d3f-9a51-0c7b8e3c2f11","key_type":"ed25519","private_key_seed":"AAAA"}`},
		{"empty state", StateFile, ""},
		{"garbage state", StateFile, "\x00\x01garbage"},
		{"trailing state", StateFile, `{"state":"pending"} {}`},
		{"unknown state", StateFile, `{"state":"sleepy"}`},
		{"no state", StateFile, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var err error
			if tt.file == IdentityFile {
				_, err = LoadOrCreateIdentity(dir)
			} else {
				_, err = Load(dir)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil || string(after) != tt.content {
				t.Errorf("corrupt file was modified: %q, %v", after, rerr)
			}
		})
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s mode = %o, want %o", path, got, want)
	}
}

func checkNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}
