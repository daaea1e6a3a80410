package registry

import (
	"context"
	"errors"
	"net/netip"
)

// Names of what Bootstrap creates.
const (
	RootAccountName    = "root"
	DefaultAccountName = "default"
	AdminUsername      = "admin"
	metaBootstrapped   = "bootstrap.done"
	metaBootstrapWhere = "bootstrap.where"
)

// BootstrapResult tells what Bootstrap did.
type BootstrapResult struct {
	Created       bool   // false when the store was already bootstrapped
	AdminPassword string // the admin's password when Created and none was given
	RootAccountID string
	// Where is what the broker that bootstrapped the store said of where
	// it left the initial admin password (BootstrapAt), when this call did
	// not bootstrap; "" when it said nothing.
	Where string
}

// Bootstrap creates, once per store, the built-in roles, the root vendor
// account, the customer account "default" with the predefined keys of SPEC
// K6, and the user "admin" holding Administrator at the root. adminPassword "" means generate one.
func (r *Registry) Bootstrap(ctx context.Context, adminPassword string) (*BootstrapResult, error) {
	return r.BootstrapAt(ctx, adminPassword, "")
}

// BootstrapAt is Bootstrap by a broker that shares its store with others:
// when it bootstraps, it records where (e.g. "host:/data/dir/file") in the
// same transaction, and a broker that finds the store bootstrapped gets it
// back in BootstrapResult.Where, to say where the password is.
func (r *Registry) BootstrapAt(ctx context.Context, adminPassword, where string) (*BootstrapResult, error) {
	res := &BootstrapResult{}
	generated := adminPassword == ""
	if generated {
		var err error
		if adminPassword, err = RandomPassword(); err != nil {
			return nil, internal("generating password", err)
		}
	}
	hash, err := HashPassword(adminPassword)
	if err != nil {
		return nil, internal("hashing password", err)
	}
	now := r.now()
	err = r.store.Update(ctx, func(tx Tx) error {
		// A run abandoned after a serialisation failure (Store.Update) may
		// have set Created; another broker may have bootstrapped since.
		res.Created, res.RootAccountID, res.Where = false, "", ""
		root, err := tx.GetMeta(metaBootstrapped)
		if err == nil {
			res.RootAccountID = root
			if w, err := tx.GetMeta(metaBootstrapWhere); err == nil {
				res.Where = w
			}
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		viewAll := []Permission{}
		for _, p := range AllPermissions {
			if len(p) > 4 && p[:4] == "View" {
				viewAll = append(viewAll, p)
			}
		}
		for _, role := range []Role{
			{ID: RoleAdministrator, Name: "Administrator", Permissions: AllPermissions},
			{ID: RoleApprover, Name: "Approver", Permissions: []Permission{PermViewEndpoint, PermModifyEndpoint}},
			{ID: RoleAuditor, Name: "Auditor", Permissions: viewAll},
		} {
			role.BuiltIn, role.CreatedAt = true, now
			if err := tx.CreateRole(&role); err != nil {
				return err
			}
		}
		rootAcct := &Account{ID: newID(), Name: RootAccountName, Type: AccountVendor, CreatedAt: now, UpdatedAt: now}
		def := &Account{ID: newID(), ParentID: rootAcct.ID, Name: DefaultAccountName, Type: AccountCustomer, CreatedAt: now, UpdatedAt: now}
		for _, a := range []*Account{rootAcct, def} {
			if err := tx.CreateAccount(a); err != nil {
				return err
			}
		}
		if err := createPredefinedKeys(tx, now, "system", def.ID); err != nil {
			return err
		}
		admin := &User{ID: newID(), AccountID: rootAcct.ID, Username: AdminUsername, PasswordHash: hash,
			Source: UserSourceBootstrap, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateUser(admin); err != nil {
			return err
		}
		if err := tx.CreateGrant(&Grant{UserID: admin.ID, RoleID: RoleAdministrator, AccountID: rootAcct.ID, CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.SetMeta(metaBootstrapped, rootAcct.ID); err != nil {
			return err
		}
		if where != "" {
			if err := tx.SetMeta(metaBootstrapWhere, where); err != nil {
				return err
			}
		}
		res.Created, res.RootAccountID = true, rootAcct.ID
		return audit(tx, now, "system", "broker.bootstrap", rootAcct.ID, "user:"+admin.ID, OutcomeSuccess, netip.Addr{},
			map[string]string{"default_account": def.ID})
	})
	if err != nil {
		return nil, internal("bootstrapping", err)
	}
	if res.Created && generated {
		res.AdminPassword = adminPassword
	}
	return res, nil
}
