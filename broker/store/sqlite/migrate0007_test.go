package sqlite_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// TestUpgradeTo0007 opens a database made before issue 12, where
// decided_by/at held the last decision: 0007 keeps it as the last decision
// and recovers each endpoint's approval (an untrusted one's from the audit
// log, where the log has it).
func TestUpgradeTo0007(t *testing.T) {
	p, db := oldDatabase(t, 6)
	ns := func(sec int) int64 { return time.Unix(int64(sec), 0).UnixNano() }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, name, type, created_at) VALUES ('a', 'A', 'vendor', 1)`, nil},
		{`INSERT INTO endpoints (id, account_id, state, registered_at, decided_by, decided_at) VALUES
			('trusted', 'a', 'trusted', 1, 'user:t', ?),
			('rejected', 'a', 'rejected', 1, 'user:r', ?),
			('untrusted', 'a', 'untrusted', 1, 'user:u', ?),
			('auto', 'a', 'untrusted', 1, 'user:u2', ?),
			('lost', 'a', 'untrusted', 1, 'user:u3', ?),
			('pending', 'a', 'pending', 1, '', NULL)`, []any{ns(100), ns(200), ns(300), ns(400), ns(500)}},
		{`INSERT INTO audit_events (time, actor, action, account_id, target, outcome, detail) VALUES
			(?, 'user:ap-old', 'endpoint.approve', 'a', 'endpoint:untrusted', 'success', '{}'),
			(?, 'user:ap', 'endpoint.approve', 'a', 'endpoint:untrusted', 'success', '{}'),
			(?, 'user:x', 'endpoint.approve', 'a', 'endpoint:untrusted', 'failure', '{}'),
			(?, 'key:k', 'endpoint.register', 'a', 'auto', 'success', '{"state":"trusted"}'),
			(?, 'key:k', 'endpoint.register', 'a', 'lost', 'success', '{"state":"pending"}')`,
			[]any{ns(110), ns(150), ns(160), ns(50), ns(60)}},
	} {
		if _, err := db.ExecContext(t.Context(), q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, p)
	defer s.Close()
	at := func(sec int) time.Time { return time.Unix(int64(sec), 0).UTC() }
	type record struct {
		ApprovedBy, LastDecision, LastDecisionBy string
		ApprovedAt, LastDecisionAt               time.Time
	}
	want := map[string]record{
		"trusted":   {"user:t", "approve", "user:t", at(100), at(100)},
		"rejected":  {"", "reject", "user:r", time.Time{}, at(200)},
		"untrusted": {"user:ap", "untrust", "user:u", at(150), at(300)},
		"auto":      {"key:k", "untrust", "user:u2", at(50), at(400)},
		"lost":      {"", "untrust", "user:u3", time.Time{}, at(500)},
		"pending":   {},
	}
	got := map[string]record{}
	err := s.View(t.Context(), func(tx registry.Tx) error {
		eps, err := tx.ListEndpoints(registry.EndpointFilter{})
		for _, e := range eps {
			got[e.ID] = record{e.ApprovedBy, e.LastDecision, e.LastDecisionBy, e.ApprovedAt, e.LastDecisionAt}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("endpoints after 0007 (-want +got):\n%s", d)
	}
}
