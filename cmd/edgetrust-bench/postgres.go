package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer is the PostgreSQL server that --store names. The bench gives
// each phase a schema of its own on it (the store's tables live in the
// first schema of the search_path), so that phases do not see each other's
// data, and drops them at the end.
type pgServer struct {
	base *url.URL // --store as given

	version, fsync, syncCommit string

	schemas []string // made by newSchema
}

// checkStoreURL says what is wrong with a --store value.
func checkStoreURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("--store: not a URL; want postgres://USER@HOST:PORT/DB?sslmode=…")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("--store %s: want postgres://USER@HOST:PORT/DB?sslmode=… (the bench always measures SQLite; --store adds PostgreSQL)", u.Redacted())
	}
	return nil
}

// openPG connects to the server once to read its version and durability
// settings.
func openPG(ctx context.Context, raw string) (*pgServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	s := &pgServer{base: u}
	err = s.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		for _, q := range []struct {
			name string
			dst  *string
		}{{"server_version", &s.version}, {"fsync", &s.fsync}, {"synchronous_commit", &s.syncCommit}} {
			if err := c.QueryRow(ctx, "SELECT current_setting($1)", q.name).Scan(q.dst); err != nil {
				return fmt.Errorf("reading %s: %w", q.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", u.Host, err)
	}
	return s, nil
}

func (s *pgServer) withConn(ctx context.Context, fn func(ctx context.Context, c *pgx.Conn) error) error {
	ctx, cancel := within(ctx, time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, s.base.String())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return fn(ctx, c)
}

// describe says which server it is and how durable its commits are.
func (s *pgServer) describe() string {
	return fmt.Sprintf("PostgreSQL %s at %s, fsync=%s, synchronous_commit=%s", s.version, s.base.Host, s.fsync, s.syncCommit)
}

// newSchema creates an empty schema and returns the store URL whose
// connections use it.
func (s *pgServer) newSchema(ctx context.Context) (string, error) {
	var b [6]byte
	rand.Read(b[:])
	name := "bench_" + hex.EncodeToString(b[:])
	err := s.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("creating schema %s: %w", name, err)
	}
	s.schemas = append(s.schemas, name)
	u := *s.base
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// dropSchemas drops the schemas newSchema made.
func (s *pgServer) dropSchemas() error {
	var errs []error
	for _, name := range s.schemas {
		err := s.withConn(context.Background(), func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE")
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("dropping schema %s: %w", name, err))
		}
	}
	s.schemas = nil
	return errors.Join(errs...)
}

// writeClusterKey writes a cluster key file in dir, as an operator would
// (openssl rand -base64 32 > FILE), and returns its path.
func writeClusterKey(dir string) (string, error) {
	key := make([]byte, 32)
	rand.Read(key)
	path := filepath.Join(dir, "cluster.key")
	return path, os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
}

// redactArgs returns args with the password of any URL among them (a
// --store value) replaced by xxxxx, for the report.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		prefix, v := "", a
		if p, rest, ok := strings.Cut(a, "="); ok && strings.HasPrefix(p, "--") {
			prefix, v = p+"=", rest
		}
		if !strings.Contains(v, "://") {
			continue
		}
		if u, err := url.Parse(v); err == nil {
			out[i] = prefix + u.Redacted()
		} else {
			out[i] = prefix + "(a URL that does not parse)"
		}
	}
	return out
}
