package broker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/postgres"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

// StoreSQLite names the embedded SQLite store in Config.StoreURL (as "" does).
const StoreSQLite = "sqlite"

// CheckStore checks a Config.StoreURL: "" or "sqlite" (the embedded SQLite
// store in the data directory), or a PostgreSQL URL
// (postgres://USER@HOST:PORT/DB?sslmode=…). Its errors never repeat the
// value, which may hold a password.
func CheckStore(s string) error {
	if s == "" || s == StoreSQLite {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL: want postgres://USER@HOST:PORT/DB?sslmode=… or sqlite")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return errors.New("names no store this broker has: want postgres://USER@HOST:PORT/DB?sslmode=… or sqlite")
	}
	if u.Host == "" {
		return errors.New("names no host: want postgres://USER@HOST:PORT/DB?sslmode=…")
	}
	return nil
}

// openStore opens the store Config.StoreURL names: the embedded SQLite
// store in dir, or PostgreSQL. close releases it.
func (b *Broker) openStore(ctx context.Context, dir string) (st registry.Store, close func(), err error) {
	if u := b.cfg.StoreURL; u != "" && u != StoreSQLite {
		pg, err := postgres.Open(ctx, postgres.Config{URL: u, Logger: b.log.Named("postgres")})
		if err != nil {
			return nil, nil, fmt.Errorf("opening store: %w", err)
		}
		b.log.Info("store: PostgreSQL", zap.String(logfield.Store, redacted(u)))
		return pg, func() { pg.Close() }, nil
	}
	sq, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "edgetrust.db"), Logger: b.log})
	if err != nil {
		return nil, nil, fmt.Errorf("opening store: %w", err)
	}
	return sq, func() { sq.Close() }, nil
}

// redacted is a store URL without its password and query (which may hold
// one too).
func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}
