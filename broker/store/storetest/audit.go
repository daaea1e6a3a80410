package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func appendAudit(t *testing.T, s registry.Store, events []registry.AuditEvent) {
	t.Helper()
	update(t, s, func(tx registry.Tx) error {
		for i := range events {
			if err := tx.AppendAudit(&events[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func testAudit(t *testing.T, s registry.Store) {
	events := []registry.AuditEvent{
		{
			Time: at(0), Actor: "user:u1", Action: "endpoint.approve", AccountID: acctA, Target: "ep-1",
			Outcome: registry.OutcomeSuccess, Remote: "192.0.2.1",
			Detail: map[string]string{"from": "pending", "to": "trusted", "note": `quotes " and \ and ünïcode`},
		},
		{Time: at(time.Second), Actor: "system", Action: "bootstrap", Outcome: registry.OutcomeSuccess},
		{ID: 12345, Time: at(time.Second), Action: "key.create"}, // ID is assigned, not taken
	}
	appendAudit(t, s, events[:2])
	appendAudit(t, s, events[2:])
	for i := 1; i < len(events); i++ {
		if events[i].ID <= events[i-1].ID {
			t.Errorf("audit ids do not increase: %d then %d", events[i-1].ID, events[i].ID)
		}
	}
	if events[0].ID <= 0 {
		t.Errorf("first audit id = %d, want > 0", events[0].ID)
	}
	view(t, s, func(tx registry.Tx) error {
		got, err := tx.ListAudit(registry.AuditFilter{})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if d := diff(events, got); d != "" {
			t.Errorf("ListAudit mismatch (-want +got):\n%s", d)
		}
		return nil
	})

	// Ids of rolled-back events may be skipped but never reused below.
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		if err := tx.AppendAudit(&registry.AuditEvent{Time: at(0), Action: "rolled.back"}); err != nil {
			return err
		}
		return errRollback
	})
	wantErr(t, "rolled back Update", err, errRollback)
	next := []registry.AuditEvent{{Time: at(time.Hour), Action: "after"}}
	appendAudit(t, s, next)
	if next[0].ID <= events[2].ID {
		t.Errorf("id after rollback = %d, want > %d", next[0].ID, events[2].ID)
	}
}

var errRollback = errors.New("storetest: roll back")

func testListAudit(t *testing.T, s registry.Store) {
	const (
		fail = registry.OutcomeFailure
		ok   = registry.OutcomeSuccess
	)
	events := []registry.AuditEvent{
		{Time: at(0), Action: "endpoint.register", AccountID: acctA, Actor: "key:k1", Target: "ep-1", Outcome: ok},
		{Time: at(time.Minute), Action: "endpoint.approve", AccountID: acctA, Actor: "user:u1", Target: "ep-1", Outcome: ok},
		{Time: at(2 * time.Minute), Action: "endpointx.other", AccountID: acctB, Actor: "user:u10", Target: "ep-10", Outcome: fail},
		{Time: at(3 * time.Minute), Action: "key.create", AccountID: acctB, Actor: "user:u1", Target: "k1", Outcome: ok},
		{Time: at(4 * time.Minute), Action: "endpoint", AccountID: acctRoot, Actor: "system"},
		{Time: at(5 * time.Minute), Action: "endpoint.approve", AccountID: acctB, Actor: "user:u1", Target: "ep-10", Outcome: fail},
		// One endpoint's history: its target in both spellings, and its own acts.
		{Time: at(6 * time.Minute), Action: "endpoint.untrust", AccountID: acctA, Actor: "user:u1", Target: "endpoint:ep-1", Outcome: ok},
		{Time: at(7 * time.Minute), Action: "login.session_user", AccountID: acctA, Actor: "endpoint:ep-1", Target: "user:u2", Outcome: fail},
		{Time: at(8 * time.Minute), Action: "login.session_user", AccountID: acctA, Actor: "endpoint:ep-10", Target: "user:u2", Outcome: ok},
	}
	appendAudit(t, s, events)
	id := func(i int) int64 { return events[i].ID }
	tests := []struct {
		name   string
		filter registry.AuditFilter
		want   []int // indexes into events
	}{
		{"everything", registry.AuditFilter{}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"action exact", registry.AuditFilter{Action: "endpoint.approve"}, []int{1, 5}},
		{"action exact, no prefix match", registry.AuditFilter{Action: "endpoint"}, []int{4}},
		{"action prefix", registry.AuditFilter{Action: "endpoint."}, []int{0, 1, 5, 6}},
		{"action prefix is literal", registry.AuditFilter{Action: "endpoint%."}, nil},
		{"action prefix is literal 2", registry.AuditFilter{Action: "endpoint_."}, nil},
		{"accounts", registry.AuditFilter{AccountIDs: []string{acctB, acctRoot}}, []int{2, 3, 4, 5}},
		{"endpoint: both target spellings and its acts", registry.AuditFilter{Endpoint: "ep-1"}, []int{0, 1, 6, 7}},
		{"endpoint is exact", registry.AuditFilter{Endpoint: "ep-"}, nil},
		{"endpoint and outcome", registry.AuditFilter{Endpoint: "ep-1", Outcome: fail}, []int{7}},
		{"newest first", registry.AuditFilter{Desc: true}, []int{8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"newest first, limit keeps the newest", registry.AuditFilter{Desc: true, Limit: 2}, []int{8, 7}},
		{"before id (exclusive)", registry.AuditFilter{BeforeID: id(2)}, []int{0, 1}},
		{"newest first before id", registry.AuditFilter{Desc: true, BeforeID: id(6), Limit: 2}, []int{5, 4}},
		{"endpoint newest first", registry.AuditFilter{Endpoint: "ep-10", Desc: true}, []int{8, 5, 2}},
		{"empty non-nil accounts match nothing", registry.AuditFilter{AccountIDs: []string{}}, nil},
		{"since (inclusive)", registry.AuditFilter{Since: at(3 * time.Minute)}, []int{3, 4, 5, 6, 7, 8}},
		{"until (exclusive)", registry.AuditFilter{Until: at(3 * time.Minute)}, []int{0, 1, 2}},
		{"since until window", registry.AuditFilter{Since: at(time.Minute), Until: at(4 * time.Minute)}, []int{1, 2, 3}},
		{"empty window", registry.AuditFilter{Since: at(time.Minute), Until: at(time.Minute)}, nil},
		{"actor exact", registry.AuditFilter{Actor: "user:u1"}, []int{1, 3, 5, 6}},
		{"actor is not a prefix", registry.AuditFilter{Actor: "user:"}, nil},
		{"actor is case-sensitive", registry.AuditFilter{Actor: "USER:U1"}, nil},
		{"target exact", registry.AuditFilter{Target: "ep-1"}, []int{0, 1}},
		{"outcome", registry.AuditFilter{Outcome: fail}, []int{2, 5, 7}},
		{"actor target outcome", registry.AuditFilter{Actor: "user:u1", Target: "ep-10", Outcome: fail}, []int{5}},
		{"after id (exclusive)", registry.AuditFilter{AfterID: id(3)}, []int{4, 5, 6, 7, 8}},
		{"limit", registry.AuditFilter{Limit: 2}, []int{0, 1}},
		{"page", registry.AuditFilter{AfterID: id(1), Limit: 2}, []int{2, 3}},
		{"combined", registry.AuditFilter{
			AccountIDs: []string{acctA, acctB}, Action: "endpoint.", Since: at(time.Minute), AfterID: id(0), Limit: 5,
		}, []int{1, 5, 6}},
		{"combined with new fields", registry.AuditFilter{
			AccountIDs: []string{acctA, acctB}, Action: "endpoint.", Actor: "user:u1", Outcome: ok,
			Since: at(0), Until: at(5 * time.Minute), Limit: 5,
		}, []int{1}},
		{"no match", registry.AuditFilter{Action: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []registry.AuditEvent
			for _, i := range tc.want {
				want = append(want, events[i])
			}
			view(t, s, func(tx registry.Tx) error {
				got, err := tx.ListAudit(tc.filter)
				if err != nil {
					t.Fatalf("ListAudit: %v", err)
				}
				if d := diff(want, got); d != "" {
					t.Errorf("ListAudit(%+v) mismatch (-want +got):\n%s", tc.filter, d)
				}
				return nil
			})
		})
	}
}

func testMeta(t *testing.T, s registry.Store) {
	view(t, s, func(tx registry.Tx) error {
		_, err := tx.GetMeta("bootstrap.done")
		wantErr(t, "GetMeta missing", err, registry.ErrNotFound)
		return nil
	})
	for _, v := range []string{"1", "", "second value"} {
		update(t, s, func(tx registry.Tx) error { return tx.SetMeta("bootstrap.done", v) })
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.GetMeta("bootstrap.done")
			if err != nil || got != v {
				t.Errorf("GetMeta = %q, %v; want %q", got, err, v)
			}
			return nil
		})
	}
	update(t, s, func(tx registry.Tx) error { return tx.SetMeta("other", "x") })
	view(t, s, func(tx registry.Tx) error {
		got, err := tx.GetMeta("bootstrap.done")
		if err != nil || got != "second value" {
			t.Errorf("GetMeta after setting another key = %q, %v", got, err)
		}
		return nil
	})
}

// testTransactions is long by design: one scenario per transaction property,
// in the order the contract states them.
func testTransactions(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	accountExists := func(t *testing.T, id string) bool {
		t.Helper()
		var ok bool
		view(t, s, func(tx registry.Tx) error {
			_, err := tx.GetAccount(id)
			switch {
			case err == nil:
				ok = true
			case !errors.Is(err, registry.ErrNotFound):
				t.Fatalf("GetAccount: %v", err)
			}
			return nil
		})
		return ok
	}

	t.Run("commit", func(t *testing.T) {
		update(t, s, func(tx registry.Tx) error {
			if err := tx.CreateAccount(&registry.Account{ID: "committed"}); err != nil {
				return err
			}
			// The transaction sees its own writes.
			_, err := tx.GetAccount("committed")
			return err
		})
		if !accountExists(t, "committed") {
			t.Error("committed account missing")
		}
	})

	t.Run("rollback on error", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx registry.Tx) error {
			if err := tx.CreateAccount(&registry.Account{ID: "rolled-back"}); err != nil {
				return err
			}
			if err := tx.SetMeta("rolled-back", "1"); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Errorf("Update returned %v, want fn's error", err)
		}
		if accountExists(t, "rolled-back") {
			t.Error("account written by a rolled-back Update exists")
		}
		view(t, s, func(tx registry.Tx) error {
			_, err := tx.GetMeta("rolled-back")
			wantErr(t, "GetMeta after rollback", err, registry.ErrNotFound)
			return nil
		})
	})

	t.Run("rollback on panic", func(t *testing.T) {
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v, want the panic re-raised", r)
				}
			}()
			_ = s.Update(t.Context(), func(tx registry.Tx) error {
				if err := tx.CreateAccount(&registry.Account{ID: "panicked"}); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if accountExists(t, "panicked") {
			t.Error("account written by a panicking Update exists")
		}
		// The store still works.
		update(t, s, func(tx registry.Tx) error { return tx.CreateAccount(&registry.Account{ID: "after-panic"}) })
	})

	t.Run("tx unusable after fn", func(t *testing.T) {
		var leaked registry.Tx
		update(t, s, func(tx registry.Tx) error { leaked = tx; return nil })
		if err := leaked.CreateAccount(&registry.Account{ID: "leaked"}); err == nil {
			t.Error("CreateAccount on a finished Tx succeeded")
		}
		if accountExists(t, "leaked") {
			t.Error("account written through a finished Tx exists")
		}
		view(t, s, func(tx registry.Tx) error { leaked = tx; return nil })
		if _, err := leaked.GetAccount(acctA); err == nil {
			t.Error("GetAccount on a finished View Tx succeeded")
		}
	})

	t.Run("view is read-only", func(t *testing.T) {
		err := s.View(t.Context(), func(tx registry.Tx) error {
			return tx.CreateAccount(&registry.Account{ID: "from-view"})
		})
		if err == nil {
			t.Error("CreateAccount in View succeeded")
		}
		if accountExists(t, "from-view") {
			t.Error("account written in a View exists")
		}
	})

	t.Run("view returns fn's error", func(t *testing.T) {
		err := s.View(t.Context(), func(tx registry.Tx) error { return errRollback })
		if !errors.Is(err, errRollback) {
			t.Errorf("View returned %v, want fn's error", err)
		}
	})

	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		called := false
		err := s.Update(ctx, func(tx registry.Tx) error {
			called = true
			return tx.CreateAccount(&registry.Account{ID: "canceled"})
		})
		if err == nil {
			t.Errorf("Update with a canceled context succeeded (fn called: %v)", called)
		}
		if accountExists(t, "canceled") {
			t.Error("account written with a canceled context exists")
		}
	})
}
