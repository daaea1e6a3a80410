package postgres

import (
	"fmt"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// ListenerNameForTest is the application_name of s's listeners.
func (s *Store) ListenerNameForTest() string { return listenerName(s.channel) }

// FailForTest makes the transaction of rt fail as the server fails one it
// cannot serialise: a statement raising SQLSTATE code (40001, 40P01, ...).
func FailForTest(rt registry.Tx, code string) error {
	_, err := rt.(*tx).exec(fmt.Sprintf(`DO $$ BEGIN RAISE EXCEPTION 'failed for a test' USING ERRCODE = '%s'; END $$`, code))
	return err
}

// MaxAttempts is how many times Update runs fn at most.
const MaxAttempts = maxAttempts

// QueryRowForTest scans the one row of query.
func QueryRowForTest(rt registry.Tx, query string, dest ...any) error {
	return rt.(*tx).queryRow(query).Scan(dest...)
}

// ExecForTest runs a statement in rt.
func ExecForTest(rt registry.Tx, query string) error {
	_, err := rt.(*tx).exec(query)
	return err
}
