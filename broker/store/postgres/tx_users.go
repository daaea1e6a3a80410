package postgres

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
	return t.insert("user", u.ID, `INSERT INTO users (`+userCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		u.ID, u.AccountID, u.Username, u.Domain, u.UPN, u.Email, u.CardID, u.ShortID, u.PasswordHash,
		u.Source, u.Disabled, nanos(u.CreatedAt), nanos(u.UpdatedAt))
}

func (t *tx) GetUser(id string) (*registry.User, error) {
	return getOne(t, "user", id, scanUser, `SELECT `+userCols+` FROM users WHERE id = $1`, id)
}

// FindUsers orders by CreatedAt, then ID. Case-insensitive comparison uses
// PostgreSQL's lower(), as the unique index users_account_name does.
func (t *tx) FindUsers(f registry.UserFilter) ([]registry.User, error) {
	var conds []string
	var p params
	if f.AccountID != "" {
		conds = append(conds, "account_id = "+p.add(f.AccountID))
	}
	for _, c := range []struct{ col, v string }{
		{"username", f.Username}, {"domain", f.Domain}, {"upn", f.UPN}, {"card_id", f.CardID}, {"short_id", f.ShortID},
	} {
		if c.v != "" {
			conds = append(conds, "lower("+c.col+") = lower("+p.add(c.v)+")")
		}
	}
	return list(t, "users", scanUser,
		`SELECT `+userCols+` FROM users`+whereClause(conds)+` ORDER BY created_at NULLS FIRST, id`, p.args...)
}

// UpdateUser replaces every field but ID and CreatedAt; ErrConflict when
// the new (AccountID, Username, Domain), CardID or ShortID is taken.
func (t *tx) UpdateUser(u *registry.User) error {
	return t.guardedOne("updating user", u.ID, `UPDATE users SET account_id = $1, username = $2, domain = $3,
		upn = $4, email = $5, card_id = $6, short_id = $7, password_hash = $8, source = $9, disabled = $10,
		updated_at = $11 WHERE id = $12`,
		u.AccountID, u.Username, u.Domain, u.UPN, u.Email, u.CardID, u.ShortID, u.PasswordHash, u.Source,
		u.Disabled, nanos(u.UpdatedAt), u.ID)
}

// DeleteUser deletes the user's grants, then the user. API keys that run as
// the user keep their RunAsUserID (find them with ListAPIKeysRunningAs).
func (t *tx) DeleteUser(id string) error {
	if _, err := t.exec(`DELETE FROM grants WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("deleting grants of user %s: %w", id, err)
	}
	return t.execOne("deleting user", id, `DELETE FROM users WHERE id = $1`, id)
}
