package sqlite

import (
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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

// unwritable marks an error of a full, read-only or failing disk with
// registry.ErrUnwritable; others pass unchanged.
func unwritable(err error) error {
	if err == nil || errors.Is(err, registry.ErrUnwritable) || !diskFault(err) {
		return err
	}
	return fmt.Errorf("%w: %w", registry.ErrUnwritable, err)
}

// diskFault reports whether any SQLite error in err's tree (not only the
// first: an abandoned batch carries its cause after the ROLLBACK's error)
// is one of a full, read-only or failing disk.
func diskFault(err error) bool {
	if se, ok := err.(*sqlite.Error); ok {
		switch se.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return true
		}
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap() != nil && diskFault(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if diskFault(e) {
				return true
			}
		}
	}
	return false
}

// mapErr turns constraint violations into the registry's errors: a unique
// or primary key violation into ErrConflict, a foreign key violation (a
// referenced row is missing) into ErrNotFound. Other errors pass unchanged.
func mapErr(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return fmt.Errorf("%w: %w", registry.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: referenced row: %w", registry.ErrNotFound, err)
	}
	return err
}
