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
