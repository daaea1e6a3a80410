package postgres

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// nanos stores a time.Time as BIGINT Unix nanoseconds, and the zero time as
// NULL (so it does not come back as 1970-01-01). timestamptz would keep
// microseconds only; the registry's times keep nanoseconds. Times outside
// the int64 nanosecond range (years 1678 to 2262) are refused rather than
// wrapped.
type nanos time.Time

// Value implements driver.Valuer.
func (n nanos) Value() (driver.Value, error) {
	t := time.Time(n)
	if t.IsZero() {
		return nil, nil
	}
	v := t.UnixNano()
	if !time.Unix(0, v).Equal(t) {
		return nil, fmt.Errorf("postgres: time %s is outside the storable range", t.Format(time.RFC3339Nano))
	}
	return v, nil
}

// scanTime reads a nanos column into *p, in UTC; NULL gives the zero time.
type scanTime struct{ p *time.Time }

// Scan implements sql.Scanner.
func (s scanTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.p = time.Time{}
	case int64:
		*s.p = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("postgres: time column holds %T", v)
	}
	return nil
}

// scanDuration reads a BIGINT nanoseconds column into a time.Duration.
type scanDuration struct{ p *time.Duration }

// Scan implements sql.Scanner.
func (s scanDuration) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.p = 0
	case int64:
		*s.p = time.Duration(v)
	default:
		return fmt.Errorf("postgres: duration column holds %T", v)
	}
	return nil
}

// jsonText stores a value in a jsonb column; empty slices and maps (and
// nil) are stored as NULL.
type jsonText struct{ v any }

// Value implements driver.Valuer: the JSON text, which pgx sends as is.
func (j jsonText) Value() (driver.Value, error) {
	switch v := j.v.(type) {
	case nil:
		return nil, nil
	case []registry.Permission:
		if len(v) == 0 {
			return nil, nil
		}
	case []string:
		if len(v) == 0 {
			return nil, nil
		}
	case map[string]string:
		if len(v) == 0 {
			return nil, nil
		}
	}
	b, err := json.Marshal(j.v)
	if err != nil {
		return nil, fmt.Errorf("postgres: encoding JSON column: %w", err)
	}
	return string(b), nil
}

// scanJSON decodes a jsonb column into p; NULL leaves *p at its zero value
// (nil for slices and maps).
type scanJSON struct{ p any }

// Scan implements sql.Scanner.
func (s scanJSON) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("postgres: JSON column holds %T", v)
	}
	if err := json.Unmarshal(b, s.p); err != nil {
		return fmt.Errorf("postgres: decoding JSON column: %w", err)
	}
	return nil
}

// prefixes stores []netip.Prefix as a JSON array of their String forms.
func prefixes(ps []netip.Prefix) jsonText {
	if len(ps) == 0 {
		return jsonText{}
	}
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.String()
	}
	return jsonText{ss}
}

// scanPrefixes reads a prefixes column back.
type scanPrefixes struct{ p *[]netip.Prefix }

// Scan implements sql.Scanner.
func (s scanPrefixes) Scan(v any) error {
	var ss []string
	if err := (scanJSON{&ss}).Scan(v); err != nil {
		return err
	}
	if len(ss) == 0 {
		*s.p = nil
		return nil
	}
	ps := make([]netip.Prefix, len(ss))
	for i, str := range ss {
		p, err := netip.ParsePrefix(str)
		if err != nil {
			return fmt.Errorf("postgres: prefix column: %w", err)
		}
		ps[i] = p
	}
	*s.p = ps
	return nil
}

// blob returns b for a BYTEA column, NULL when empty.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// scanBlob reads a BYTEA column; NULL and empty give nil.
type scanBlob struct{ p *[]byte }

// Scan implements sql.Scanner.
func (s scanBlob) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.p = nil
	case []byte:
		if len(v) == 0 {
			*s.p = nil
			return nil
		}
		*s.p = append([]byte(nil), v...)
	default:
		return fmt.Errorf("postgres: BYTEA column holds %T", v)
	}
	return nil
}

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
func mapErr(err error) error {
	switch sqlState(err) {
	case codeUniqueViolation:
		return fmt.Errorf("%w: %w", registry.ErrConflict, err)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w: referenced row: %w", registry.ErrNotFound, err)
	}
	return err
}
