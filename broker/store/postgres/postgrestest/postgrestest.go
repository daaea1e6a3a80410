// Package postgrestest gives tests a PostgreSQL database of their own: a
// fresh schema on the server that EDGETRUST_TEST_POSTGRES names (a URL;
// scripts/postgres.sh starts a throwaway server and prints it).
//
// Without EDGETRUST_TEST_POSTGRES a test is skipped, except on CI
// (CI=true), where a missing server is a failure: the tests that need it
// must run there.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming the test server.
const EnvURL = "EDGETRUST_TEST_POSTGRES"

// ServerURL returns the URL of the test server, skipping the test when
// there is none (failing it on CI).
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: on CI the PostgreSQL tests must run (start a server with scripts/postgres.sh start DIR)", EnvURL)
		}
		t.Skipf("%s is not set: start a server with scripts/postgres.sh start DIR and export what it prints", EnvURL)
	}
	return u
}

// URL creates an empty schema on the test server and returns a URL whose
// connections use it (search_path). The schema is dropped when the test
// ends. Every store opened on the URL shares it, as brokers share a
// database.
func URL(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: not a URL: %v", EnvURL, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec(ctx, t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec(ctx, t, base, "DROP SCHEMA "+schema+" CASCADE")
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs one statement on the test server, outside any schema of a
// test, failing the test on an error.
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec(ctx, t, ServerURL(t), sql, args...)
}

func exec(ctx context.Context, t testing.TB, u, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
