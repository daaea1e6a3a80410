package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The roles commands and the grants of roles to users (users grant,
// users ungrant).

// rolesCommands returns the roles commands and the grants of roles to users.
func rolesCommands() []*command {
	return []*command{
		{
			path: "users grant", args: "ID --role ROLE [--account ID]",
			summary: "grant a user a role at an account",
			help: `Grants the role (id or name) at --account (default: the user's own account);
it applies to that account and everything below it. You cannot grant
permissions you do not hold there.

Example:
  edgetrustctl users grant 0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f --role Auditor`,
			setup: setupUsersGrant(true),
		},
		{
			path: "users ungrant", args: "ID --role ROLE [--account ID]",
			summary: "take a role at an account away from a user",
			help: `Removes the grant of the role (id or name) at --account (default: the
user's own account). It takes effect on the user's next request.

Example:
  edgetrustctl users ungrant 0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f --role Auditor`,
			setup: setupUsersGrant(false),
		},
		{
			path: "roles list", args: "[--account ID]",
			summary: "list the built-in and custom roles",
			help: `Lists the built-in roles (Administrator, Approver, Auditor) and the custom
roles of the accounts where you may view users (and of the accounts above
them), each with its account by name and its permissions. With --account,
the built-in roles and that account's custom roles.

Example:
  edgetrustctl roles list -o json`,
			setup: setupRolesList,
		},
		{
			path: "roles create", args: "--name NAME --permission P...",
			summary: "create a custom role",
			help: fmt.Sprintf(`Creates a custom role in --account (default: your own account). You can
only put permissions in it that you hold there. Permissions:
  %s

Example:
  edgetrustctl roles create --name "Key viewer" --permission ViewApiKey`, strings.Join(api.Permissions, ", ")),
			setup: setupRolesCreate,
		},
		{
			path: "roles delete", args: "ID",
			summary: "delete a custom role and its grants",
			help: `Deletes a custom role; every grant of it ends. Built-in roles cannot be
deleted.

Example:
  edgetrustctl roles delete 6a5b4c3d-2e1f-0a9b-8c7d-6e5f0c9d8e7f`,
			setup: setupRolesDelete,
		},
	}
}

func setupUsersGrant(grant bool) func(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(fs *pflag.FlagSet) func(*cli, []string) error {
		var role string
		fs.StringVar(&role, "role", "", "role id or name (required)")
		return func(c *cli, args []string) error {
			id, err := oneID(args, "user id")
			if err != nil {
				return err
			}
			if strings.TrimSpace(role) == "" {
				return usagef("give --role: a role id or name (see %q)", prog+" roles list")
			}
			if grant {
				g, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Grant, error) {
					return cl.Grant(ctx, id, api.GrantRequest{Role: role, AccountID: c.g.account})
				})
				if err != nil {
					return err
				}
				return c.done(g, "granted %s to user %s at account %s\n", nameAndID(g.RoleName, g.RoleID), id, nameAndID(g.AccountName, g.AccountID))
			}
			_, err = call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
				return struct{}{}, cl.Ungrant(ctx, id, role, c.g.account)
			})
			if err != nil {
				return err
			}
			return c.done(map[string]any{"id": id, "role": role, "account_id": c.g.account, "ungranted": true}, "took %s away from user %s\n", role, id)
		}
	}
}

func setupRolesList(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		roles, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Role, error) {
			return cl.ListRoles(ctx)
		})
		if err != nil {
			return err
		}
		if c.g.account != "" {
			kept := roles[:0]
			for _, r := range roles {
				if r.BuiltIn || r.AccountID == c.g.account {
					kept = append(kept, r)
				}
			}
			roles = kept
		}
		if c.g.output == "json" {
			return c.printJSON(roles)
		}
		return c.printRoles(roles)
	}
}

func setupRolesCreate(fs *pflag.FlagSet) func(*cli, []string) error {
	var req api.CreateRoleRequest
	fs.StringVar(&req.Name, "name", "", "name of the role (required)")
	fs.StringArrayVar(&req.Permissions, "permission", nil, "permission the role grants (repeat for more; required)")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if strings.TrimSpace(req.Name) == "" {
			return usagef("roles create needs --name")
		}
		if len(req.Permissions) == 0 {
			return usagef("roles create needs at least one --permission (%s)", strings.Join(api.Permissions, ", "))
		}
		for _, p := range req.Permissions {
			if !contains(api.Permissions, p) {
				return usagef("--permission %q is not a permission (%s)", p, strings.Join(api.Permissions, ", "))
			}
		}
		req.AccountID = c.g.account
		role, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Role, error) {
			return cl.CreateRole(ctx, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(role)
		}
		return c.printRoles([]api.Role{*role})
	}
}

func setupRolesDelete(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "role id")
		if err != nil {
			return err
		}
		_, err = call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.DeleteRole(ctx, id)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"id": id, "deleted": true}, "role %s deleted\n", id)
	}
}

func (c *cli) printRoles(roles []api.Role) error {
	return c.table("ID\tNAME\tACCOUNT\tBUILT-IN\tPERMISSIONS", len(roles), func(i int) []string {
		r := roles[i]
		return []string{r.ID, r.Name, nameOr(r.AccountName, r.AccountID), yesNo(r.BuiltIn), strings.Join(r.Permissions, ",")}
	})
}
