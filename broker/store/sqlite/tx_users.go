package sqlite

import (
	"fmt"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- Users ---

const userCols = `id, account_id, username, domain, upn, email, card_id, short_id, password_hash, source,
	disabled, created_at, updated_at`

func scanUser(r rowScanner) (registry.User, error) {
	var u registry.User
	err := r.Scan(&u.ID, &u.AccountID, &u.Username, &u.Domain, &u.UPN, &u.Email, &u.CardID, &u.ShortID,
		&u.PasswordHash, &u.Source, &u.Disabled, scanTime{P: &u.CreatedAt}, scanTime{P: &u.UpdatedAt})
	return u, err
}

// CreateUser returns ErrConflict on a duplicate id, name, or non-empty
// CardID or ShortID in the same account.
func (t *tx) CreateUser(u *registry.User) error {
	return t.insert("user", u.ID, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.AccountID, u.Username, u.Domain, u.UPN, u.Email, u.CardID, u.ShortID, u.PasswordHash,
		u.Source, u.Disabled, nanos(u.CreatedAt), nanos(u.UpdatedAt))
}

func (t *tx) GetUser(id string) (*registry.User, error) {
	return getOne(t, "user", id, scanUser, `SELECT `+userCols+` FROM users WHERE id = ?`, id)
}

// FindUsers orders by CreatedAt, then ID. Case-insensitive comparison uses
// SQLite's lower(), which folds ASCII letters only.
func (t *tx) FindUsers(f registry.UserFilter) ([]registry.User, error) {
	var conds []string
	var args []any
	if f.AccountID != "" {
		conds = append(conds, "account_id = ?")
		args = append(args, f.AccountID)
	}
	if f.Username != "" {
		conds = append(conds, "lower(username) = lower(?)")
		args = append(args, f.Username)
	}
	if f.Domain != "" {
		conds = append(conds, "lower(domain) = lower(?)")
		args = append(args, f.Domain)
	}
	if f.UPN != "" {
		conds = append(conds, "lower(upn) = lower(?)")
		args = append(args, f.UPN)
	}
	if f.CardID != "" {
		conds = append(conds, "lower(card_id) = lower(?)")
		args = append(args, f.CardID)
	}
	if f.ShortID != "" {
		conds = append(conds, "lower(short_id) = lower(?)")
		args = append(args, f.ShortID)
	}
	return list(t, "users", scanUser,
		`SELECT `+userCols+` FROM users`+whereClause(conds)+` ORDER BY created_at, id`, args...)
}

// UpdateUser replaces every field but ID and CreatedAt; ErrConflict when
// the new (AccountID, Username, Domain), CardID or ShortID is taken.
func (t *tx) UpdateUser(u *registry.User) error {
	return t.execOne("updating user", u.ID, `UPDATE users SET account_id = ?, username = ?, domain = ?,
		upn = ?, email = ?, card_id = ?, short_id = ?, password_hash = ?, source = ?, disabled = ?,
		updated_at = ? WHERE id = ?`,
		u.AccountID, u.Username, u.Domain, u.UPN, u.Email, u.CardID, u.ShortID, u.PasswordHash, u.Source,
		u.Disabled, nanos(u.UpdatedAt), u.ID)
}

// DeleteUser deletes the user's grants, then the user. API keys that run as
// the user keep their RunAsUserID (find them with ListAPIKeysRunningAs).
func (t *tx) DeleteUser(id string) error {
	if _, err := t.exec(`DELETE FROM grants WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("deleting grants of user %s: %w", id, err)
	}
	return t.execOne("deleting user", id, `DELETE FROM users WHERE id = ?`, id)
}
