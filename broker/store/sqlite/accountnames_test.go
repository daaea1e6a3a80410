package sqlite_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
)

// TestUpgradeRenamesDuplicateAccounts opens a store an older binary made,
// holding accounts that share a name with a sibling (the walkthrough run
// twice makes two "Acme Corp"): the upgrade renames each later one to
// "NAME (n)" with n free, audits and logs each rename, creates the unique
// index, and a second start changes nothing.
func TestUpgradeRenamesDuplicateAccounts(t *testing.T) {
	// 7: the last migration before account names were unique.
	p, db := oldDatabase(t, 7)
	for _, q := range []string{
		`INSERT INTO accounts (id, parent_id, name, type, created_at) VALUES
			('r', '', 'root', 'vendor', 1),
			('a1', 'r', 'Acme Corp', 'customer', 10),
			('a3', 'r', 'Acme Corp', 'customer', 20),
			('a2', 'r', 'ACME CORP', 'customer', 20),
			('x', 'r', 'Acme Corp (2)', 'customer', 30),
			('o', 'a1', 'Acme Corp', 'customer', 40),
			('u1', 'r', 'Ärzte Süd', 'customer', 50),
			('u2', 'r', 'ärzte SÜD', 'customer', 60),
			('r2', '', 'ROOT', 'vendor', 70)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	core, logs := observer.New(zapcore.WarnLevel)
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: p, Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := map[string]string{
		"r": "root", "a1": "Acme Corp", "a2": "ACME CORP (3)", "a3": "Acme Corp (4)", "x": "Acme Corp (2)",
		"o": "Acme Corp", "u1": "Ärzte Süd", "u2": "ärzte SÜD (2)", "r2": "ROOT (2)",
	}
	wantRenames := []map[string]string{
		{"from": "ACME CORP", "to": "ACME CORP (3)"},
		{"from": "Acme Corp", "to": "Acme Corp (4)"},
		{"from": "ärzte SÜD", "to": "ärzte SÜD (2)"},
		{"from": "ROOT", "to": "ROOT (2)"},
	}
	wantTargets := []string{"account:a2", "account:a3", "account:u2", "account:r2"}
	check := func(t *testing.T, s *sqlite.Store) {
		t.Helper()
		err := s.View(t.Context(), func(tx registry.Tx) error {
			all, err := tx.ListAccounts()
			if err != nil {
				return err
			}
			got := map[string]string{}
			for _, a := range all {
				got[a.ID] = a.Name
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("account names after the upgrade (-want +got):\n%s", d)
			}
			evs, err := tx.ListAudit(registry.AuditFilter{Action: "account.rename"})
			if err != nil {
				return err
			}
			var details []map[string]string
			var targets []string
			for _, e := range evs {
				if e.Actor != "system" || e.Outcome != registry.OutcomeSuccess || e.AccountID != e.Target[len("account:"):] {
					t.Errorf("rename event %+v: want actor system, outcome success, the account's own id", e)
				}
				details = append(details, map[string]string{"from": e.Detail["from"], "to": e.Detail["to"]})
				targets = append(targets, e.Target)
			}
			if d := cmp.Diff(wantRenames, details); d != "" {
				t.Errorf("account.rename details (-want +got):\n%s", d)
			}
			if d := cmp.Diff(wantTargets, targets); d != "" {
				t.Errorf("account.rename targets (-want +got):\n%s", d)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(t, s)
	var logged []string
	for _, e := range logs.All() {
		logged = append(logged, e.ContextMap()["account_id"].(string)+": "+e.ContextMap()["old_name"].(string)+" -> "+e.ContextMap()["new_name"].(string))
	}
	wantLogged := []string{"a2: ACME CORP -> ACME CORP (3)", "a3: Acme Corp -> Acme Corp (4)", "u2: ärzte SÜD -> ärzte SÜD (2)", "r2: ROOT -> ROOT (2)"}
	if d := cmp.Diff(wantLogged, logged); d != "" {
		t.Errorf("logged renames (-want +got):\n%s", d)
	}

	// The index now refuses a new duplicate, in any case, below any parent.
	for _, a := range []registry.Account{
		{ID: "n1", ParentID: "r", Name: "acme corp"},
		{ID: "n2", ParentID: "r", Name: "ÄRZTE SÜD (2)"},
		{ID: "n3", ParentID: "", Name: "Root"},
	} {
		err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.CreateAccount(&a) })
		if !errors.Is(err, registry.ErrConflict) {
			t.Errorf("CreateAccount(%q below %q) after the upgrade: %v, want ErrConflict", a.Name, a.ParentID, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A second start renames nothing more.
	core2, logs2 := observer.New(zapcore.WarnLevel)
	s2, err := sqlite.Open(t.Context(), sqlite.Config{Path: p, Logger: zap.New(core2)})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s2.Close()
	check(t, s2)
	if n := logs2.Len(); n != 0 {
		t.Errorf("second start logged %d warnings, want none: %v", n, logs2.All())
	}
}
