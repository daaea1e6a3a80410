// Package sqlcodec holds the value codecs both SQL stores share: how a
// registry value (a time with nanoseconds, a duration, a JSON-encoded
// detail, a list of address prefixes, a binary hash) is written to a
// column and read back, through database/sql/driver's Valuer and Scanner.
// Each store keeps its own SQL, transactions and error mapping
// (broker/store/README.md says why); what is the same to the byte lives
// here once.
package sqlcodec

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Nanos stores a time.Time as integer Unix nanoseconds (INTEGER in SQLite, BIGINT in PostgreSQL: timestamptz would keep microseconds only), and the zero time as
// NULL (so it does not come back as 1970-01-01). Times outside the int64
// nanosecond range (years 1678 to 2262) are refused rather than wrapped.
type Nanos time.Time

// Value implements driver.Valuer.
func (n Nanos) Value() (driver.Value, error) {
	t := time.Time(n)
	if t.IsZero() {
		return nil, nil
	}
	v := t.UnixNano()
	if !time.Unix(0, v).Equal(t) {
		return nil, fmt.Errorf("store: time %s is outside the storable range", t.Format(time.RFC3339Nano))
	}
	return v, nil
}

// ScanTime reads a Nanos column into *p, in UTC; NULL gives the zero time.
type ScanTime struct{ P *time.Time }

// Scan implements sql.Scanner.
func (s ScanTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.P = time.Time{}
	case int64:
		*s.P = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("store: time column holds %T", v)
	}
	return nil
}

// ScanDuration reads an integer nanoseconds column into a time.Duration.
// Durations are written as int64(d); NULL (never written) gives 0.
type ScanDuration struct{ P *time.Duration }

// Scan implements sql.Scanner.
func (s ScanDuration) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.P = 0
	case int64:
		*s.P = time.Duration(v)
	default:
		return fmt.Errorf("store: duration column holds %T", v)
	}
	return nil
}

// JSONText stores a value as JSON text (pgx sends it as is to a jsonb column); empty slices and maps (and nil)
// are stored as NULL.
type JSONText struct{ V any }

// Value implements driver.Valuer.
func (j JSONText) Value() (driver.Value, error) {
	switch v := j.V.(type) {
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
	b, err := json.Marshal(j.V)
	if err != nil {
		return nil, fmt.Errorf("store: encoding JSON column: %w", err)
	}
	return string(b), nil
}

// ScanJSON decodes a JSON column (TEXT in SQLite, jsonb in PostgreSQL) into p; NULL leaves *p at its zero
// value (nil for slices and maps).
type ScanJSON struct{ P any }

// Scan implements sql.Scanner.
func (s ScanJSON) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("store: JSON column holds %T", v)
	}
	if err := json.Unmarshal(b, s.P); err != nil {
		return fmt.Errorf("store: decoding JSON column: %w", err)
	}
	return nil
}

// Prefixes stores []netip.Prefix as a JSON array of their String forms.
func Prefixes(ps []netip.Prefix) JSONText {
	if len(ps) == 0 {
		return JSONText{}
	}
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.String()
	}
	return JSONText{ss}
}

// ScanPrefixes reads a Prefixes column back.
type ScanPrefixes struct{ P *[]netip.Prefix }

// Scan implements sql.Scanner.
func (s ScanPrefixes) Scan(v any) error {
	var ss []string
	if err := (ScanJSON{&ss}).Scan(v); err != nil {
		return err
	}
	if len(ss) == 0 {
		*s.P = nil
		return nil
	}
	ps := make([]netip.Prefix, len(ss))
	for i, str := range ss {
		p, err := netip.ParsePrefix(str)
		if err != nil {
			return fmt.Errorf("store: prefix column: %w", err)
		}
		ps[i] = p
	}
	*s.P = ps
	return nil
}

// Blob returns b for a BLOB or BYTEA column, NULL when empty.
func Blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ScanBlob reads a BLOB or BYTEA column; NULL and empty give nil.
type ScanBlob struct{ P *[]byte }

// Scan implements sql.Scanner.
func (s ScanBlob) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.P = nil
	case []byte:
		if len(v) == 0 {
			*s.P = nil
			return nil
		}
		*s.P = append([]byte(nil), v...) // the driver may reuse v
	default:
		return fmt.Errorf("store: binary column holds %T", v)
	}
	return nil
}
