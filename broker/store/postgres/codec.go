package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlcodec"
)

// The value codecs shared with the other SQL store (broker/store/sqlcodec).
type (
	nanos        = sqlcodec.Nanos
	scanTime     = sqlcodec.ScanTime
	scanDuration = sqlcodec.ScanDuration
	jsonText     = sqlcodec.JSONText
	scanJSON     = sqlcodec.ScanJSON
	scanPrefixes = sqlcodec.ScanPrefixes
	scanBlob     = sqlcodec.ScanBlob
)

var (
	prefixes = sqlcodec.Prefixes
	blob     = sqlcodec.Blob
)

// SQLSTATEs this store tells apart.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// sqlState returns err's SQLSTATE, or "" when it did not come from the server.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports whether err is a failure after which the whole
// transaction may succeed when run again: a serialisation failure or a
// deadlock, which the server resolved by failing this transaction.
func retryable(err error) bool {
	switch sqlState(err) {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return false
}

// mapErr turns constraint violations into the registry's errors: a unique
// or primary key violation into ErrConflict, a foreign key violation (a
// referenced row is missing) into ErrNotFound. Other errors pass unchanged.
// The server's message names the constraint, never the values (those are
// in the error's Detail, which is not part of its text).
// unwritable marks an error of a server that cannot write (class 53:
// disk full, out of memory; 25006: a read-only transaction, as on a
// standby; 58030: an I/O error) with registry.ErrUnwritable; others pass
// unchanged.
func unwritable(err error) error {
	code := sqlState(err)
	if err == nil || errors.Is(err, registry.ErrUnwritable) {
		return err
	}
	if strings.HasPrefix(code, "53") || code == "25006" || code == "58030" {
		return fmt.Errorf("%w: %w", registry.ErrUnwritable, err)
	}
	return err
}

func mapErr(err error) error {
	switch sqlState(err) {
	case codeUniqueViolation:
		return fmt.Errorf("%w: %w", registry.ErrConflict, err)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w: referenced row: %w", registry.ErrNotFound, err)
	}
	return err
}
