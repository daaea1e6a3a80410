package sqlite_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// TestUpgradeTo0011 opens a database with pending endpoints made before the
// pending caps: 0011 counts them into pending_counts, and the triggers keep
// the counts from then on.
func TestUpgradeTo0011(t *testing.T) {
	p, db := oldDatabase(t, 10)
	for _, q := range []string{
		`INSERT INTO accounts (id, name, type, created_at) VALUES ('a', 'A', 'vendor', 1), ('b', 'B', 'customer', 1)`,
		`INSERT INTO endpoints (id, account_id, state, key_value_id, registered_at) VALUES
			('p1', 'a', 'pending', 'v1', 1), ('p2', 'a', 'pending', 'v1', 1), ('p3', 'b', 'pending', 'v2', 1),
			('t1', 'a', 'trusted', 'v1', 1), ('r1', 'b', 'rejected', 'v2', 1)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, p)
	defer s.Close()
	counts := func() map[string]int {
		out := map[string]int{}
		err := s.View(t.Context(), func(tx registry.Tx) error {
			for _, id := range []string{"v1", "v2"} {
				n, err := tx.CountPendingByKeyValue(id)
				if err != nil {
					return err
				}
				out["value:"+id] = n
			}
			for _, id := range []string{"a", "b"} {
				n, err := tx.CountPendingByAccount(id)
				if err != nil {
					return err
				}
				out["account:"+id] = n
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if diff := cmp.Diff(map[string]int{"value:v1": 2, "value:v2": 1, "account:a": 2, "account:b": 1}, counts()); diff != "" {
		t.Errorf("after the upgrade (-want +got):\n%s", diff)
	}
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		return tx.TransitionEndpoint("p1", []registry.State{registry.StatePending}, registry.StateTrusted,
			registry.Decision{Action: "approve", By: "user:u", At: time.Unix(2, 0)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"value:v1": 1, "value:v2": 1, "account:a": 1, "account:b": 1}, counts()); diff != "" {
		t.Errorf("after an approval (-want +got):\n%s", diff)
	}
}
