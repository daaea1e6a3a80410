package sqlite

import (
	"fmt"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- Failure counts (registry.LimitTx) ---

func (t *tx) AddFailureCounts(rows []registry.FailureCount) error {
	for _, f := range rows {
		_, err := t.exec(`INSERT INTO failure_counts (window_start, scope, count) VALUES (?, ?, ?)
			ON CONFLICT (window_start, scope) DO UPDATE SET count = failure_counts.count + excluded.count`,
			nanos(f.Window), f.Scope, f.Count)
		if err != nil {
			return fmt.Errorf("adding failure count: %w", err)
		}
	}
	return nil
}

func (t *tx) ListFailureCounts(since time.Time) ([]registry.FailureCount, error) {
	rows, err := t.query(`SELECT window_start, scope, count FROM failure_counts
		WHERE window_start >= ? ORDER BY window_start, scope`, nanos(since))
	if err != nil {
		return nil, fmt.Errorf("listing failure counts: %w", err)
	}
	defer rows.Close()
	var out []registry.FailureCount
	for rows.Next() {
		var f registry.FailureCount
		if err := rows.Scan(scanTime{P: &f.Window}, &f.Scope, &f.Count); err != nil {
			return nil, fmt.Errorf("listing failure counts: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing failure counts: %w", err)
	}
	return out, nil
}

func (t *tx) DeleteFailureCounts(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM failure_counts WHERE window_start < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("deleting failure counts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deleting failure counts: %w", err)
	}
	return int(n), nil
}
