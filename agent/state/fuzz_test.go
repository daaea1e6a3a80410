package state

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: whatever bytes sit in state.json, Load returns a valid state or
// an error wrapping ErrCorrupt, never panics, and never rewrites the file.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		`{"endpoint_id":"x","state":"trusted","last_error":""}`,
		`{"state":"pending"}`, `{"state":"bogus"}`, ``, ` `, `{}`, `[]`, `null`,
		`{"state":"trusted"} {"state":"pending"}`, `{"access_expires_at":"not a time","state":"trusted"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, StateFile)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Load(dir)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		} else if !ValidState(st.State) {
			t.Fatalf("Load accepted state %q", st.State)
		}
		if after, _ := os.ReadFile(p); string(after) != string(data) {
			t.Fatal("Load changed the file")
		}
	})
}
