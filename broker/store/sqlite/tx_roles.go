package sqlite

import (
	"fmt"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// --- Roles and grants ---

const roleCols = `id, account_id, name, permissions, built_in, created_at`

func scanRole(r rowScanner) (registry.Role, error) {
	var ro registry.Role
	err := r.Scan(&ro.ID, &ro.AccountID, &ro.Name, scanJSON{P: &ro.Permissions}, &ro.BuiltIn, scanTime{P: &ro.CreatedAt})
	return ro, err
}

func (t *tx) CreateRole(r *registry.Role) error {
	return t.insert("role", r.ID, `INSERT INTO roles (`+roleCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.AccountID, r.Name, jsonText{V: r.Permissions}, r.BuiltIn, nanos(r.CreatedAt))
}

func (t *tx) GetRole(id string) (*registry.Role, error) {
	return getOne(t, "role", id, scanRole, `SELECT `+roleCols+` FROM roles WHERE id = ?`, id)
}

// ListRoles returns the built-in roles first, then the others, each part
// ordered by CreatedAt, then ID.
func (t *tx) ListRoles() ([]registry.Role, error) {
	return list(t, "roles", scanRole, `SELECT `+roleCols+` FROM roles ORDER BY built_in DESC, created_at, id`)
}

// UpdateRole replaces Name and Permissions; AccountID, BuiltIn and CreatedAt
// stay.
func (t *tx) UpdateRole(r *registry.Role) error {
	return t.execOne("updating role", r.ID, `UPDATE roles SET name = ?, permissions = ? WHERE id = ?`,
		r.Name, jsonText{V: r.Permissions}, r.ID)
}

// DeleteRole deletes every grant of the role, then the role. API keys that
// run as the role keep their RunAsRoleID.
func (t *tx) DeleteRole(id string) error {
	if _, err := t.exec(`DELETE FROM grants WHERE role_id = ?`, id); err != nil {
		return fmt.Errorf("deleting grants of role %s: %w", id, err)
	}
	return t.execOne("deleting role", id, `DELETE FROM roles WHERE id = ?`, id)
}

const grantCols = `user_id, role_id, account_id, created_at`

func scanGrant(r rowScanner) (registry.Grant, error) {
	var g registry.Grant
	err := r.Scan(&g.UserID, &g.RoleID, &g.AccountID, scanTime{P: &g.CreatedAt})
	return g, err
}

func (t *tx) CreateGrant(g *registry.Grant) error {
	return t.insert("grant", fmt.Sprintf("of role %s at %s to user %s", g.RoleID, g.AccountID, g.UserID),
		`INSERT INTO grants (`+grantCols+`) VALUES (?, ?, ?, ?)`, g.UserID, g.RoleID, g.AccountID, nanos(g.CreatedAt))
}

// ListGrants returns the user's grants ordered by CreatedAt, AccountID, RoleID.
func (t *tx) ListGrants(userID string) ([]registry.Grant, error) {
	return list(t, "grants", scanGrant,
		`SELECT `+grantCols+` FROM grants WHERE user_id = ? ORDER BY created_at, account_id, role_id`, userID)
}

func (t *tx) DeleteGrant(userID, roleID, accountID string) error {
	return t.execOne("deleting grant", fmt.Sprintf("of role %s at %s to user %s", roleID, accountID, userID),
		`DELETE FROM grants WHERE user_id = ? AND role_id = ? AND account_id = ?`, userID, roleID, accountID)
}
