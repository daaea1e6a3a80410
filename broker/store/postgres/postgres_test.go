package postgres_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/postgres"
	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
	"github.com/edgetrust/edgetrust/broker/store/storetest"
)

// open opens a store on url, closed when the test ends.
func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	postgrestest.ServerURL(t)
	storetest.Run(t, func(t *testing.T) registry.Store {
		s, err := postgres.Open(context.Background(), postgres.Config{URL: postgrestest.URL(t)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
