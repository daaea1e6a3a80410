package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/store/storetest"
)

// The serialisation checks of the conformance suite fail on a store that
// runs Updates concurrently without serialising them: each statement
// commits alone, and every Update of a race reads before any writes.
func TestSerialisationChecksCatchUnserialisedStore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(context.Context, registry.Store) error
	}{
		{"QuotaRace", storetest.CheckQuotaRace},
		{"DecideRace", storetest.CheckDecideRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.OpenUnserialisedForTest(t.Context(), filepath.Join(t.TempDir(), "registry.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			err = tc.check(t.Context(), s)
			if !errors.Is(err, storetest.ErrNotSerialised) {
				t.Errorf("%s on a store that does not serialise Updates = %v, want an error wrapping %q",
					tc.name, err, storetest.ErrNotSerialised)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}
