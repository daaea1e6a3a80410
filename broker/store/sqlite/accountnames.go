package sqlite

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

// accountNameIndex makes account names unique among siblings, ignoring case
// (registry.AccountNameKey). Migration 0008 adds its column, name_key;
// uniqueAccountNames creates it. The registry never makes an account
// without a name; a store caller may, and such accounts are left out.
const accountNameIndex = "accounts_parent_name_key"

// uniqueAccountNames is the Go step of migration 0008, run by Open after
// the migrations until it has created accountNameIndex: in one Update it
// fills name_key, renames the later of any accounts sharing a name with a
// sibling (registry.RenameDuplicateAccounts: "NAME (2)", audited as
// account.rename, logged here), then creates the index. A store made
// before names were unique is upgraded, never refused: should the step
// fail, Open logs why and goes on without the index (the registry still
// refuses new duplicates), and the next Open tries again.
func (s *Store) uniqueAccountNames(ctx context.Context) {
	var done bool
	err := s.View(ctx, func(rt registry.Tx) error {
		var err error
		done, err = rt.(*tx).exists(`SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?`, accountNameIndex)
		return err
	})
	if err == nil && done {
		return
	}
	var renames []registry.AccountRename
	if err == nil {
		err = s.Update(ctx, func(rt registry.Tx) error {
			t := rt.(*tx)
			if err := fillNameKeys(t); err != nil {
				return err
			}
			var err error
			if renames, err = registry.RenameDuplicateAccounts(t, time.Now()); err != nil {
				return err
			}
			_, err = t.exec(`CREATE UNIQUE INDEX IF NOT EXISTS ` + accountNameIndex + ` ON accounts (parent_id, name_key) WHERE name_key <> ''`)
			return err
		})
	}
	if err != nil {
		s.log.Error("sqlite: could not make account names unique; new duplicates are still refused, the next start tries again",
			zap.Error(err))
		return
	}
	for _, rn := range renames {
		s.log.Warn("sqlite: renamed an account whose name a sibling had (account names are now unique below a parent, ignoring case)",
			zap.String(logfield.AccountID, rn.AccountID), zap.String(logfield.ParentID, rn.ParentID),
			zap.String(logfield.OldName, rn.From), zap.String(logfield.NewName, rn.To))
	}
}

// fillNameKeys sets every account's name_key from its name.
func fillNameKeys(t *tx) error {
	rows, err := t.query(`SELECT id, name, name_key FROM accounts`)
	if err != nil {
		return fmt.Errorf("reading account names: %w", err)
	}
	type row struct{ id, name, key string }
	var stale []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.name, &r.key); err != nil {
			rows.Close()
			return fmt.Errorf("reading account names: %w", err)
		}
		if k := registry.AccountNameKey(r.name); k != r.key {
			r.key = k
			stale = append(stale, r)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("reading account names: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading account names: %w", err)
	}
	for _, r := range stale {
		if err := t.execOne("setting name_key of account", r.id, `UPDATE accounts SET name_key = ? WHERE id = ?`, r.key, r.id); err != nil {
			return err
		}
	}
	return nil
}
