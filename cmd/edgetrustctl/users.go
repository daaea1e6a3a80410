package main

import (
	"context"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The users commands: create, list, show, update and delete. Granting a
// user a role is in roles.go.

// usersCommands returns the users commands but grants (roles.go).
func usersCommands() []*command {
	return []*command{
		{
			path: "users create", args: "--username U [--account ID] [--role ROLE]... [--password-stdin]",
			summary: "create a user, optionally with roles and a password",
			help: `Creates a user in --account (default: your own account). Each --role (a
role id or name: Administrator, Approver, Auditor or a custom role) is
granted at that account and applies to everything below it. With
--password-stdin the user's password is read from standard input (one line);
without it the user cannot sign in with a password.

Example:
  edgetrustctl users create --account 3f1c0e9a-6b2d-4c8e-9f7a-1d2e3c4b5a69 \
      --username alice --role Approver --password-stdin < alice-password`,
			setup: setupUsersCreate,
		},
		{
			path: "users list", args: "[--account ID]",
			summary: "list users with their roles",
			help: `Lists the users of --account, or of every account where you may view users,
with their account and roles by name; a role held at another account than
the user's own shows as "ROLE @ ACCOUNT".

Example:
  edgetrustctl users list -o json`,
			setup: setupUsersList,
		},
		{
			path: "users show", args: "ID",
			summary: "show one user with its roles",
			help: `Shows a user with its account and its grants, by name: a role held at
another account than the user's own shows as "ROLE @ ACCOUNT".

Example:
  edgetrustctl users show 0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f -o json`,
			setup: setupUsersShow,
		},
		{
			path: "users update", args: "ID [--disabled=true|false] [--email E] [--password-stdin|--no-password]",
			summary: "change a user",
			help: `Changes only what is given. Disabling a user disables every API key that
runs as it and ends its sessions.

Example:
  edgetrustctl users update 0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f --disabled=true`,
			setup: setupUsersUpdate,
		},
		{
			path: "users delete", args: "ID",
			summary: "delete a user",
			help: `Deletes a user and its grants; every API key that runs as it is disabled.
You cannot delete yourself.

Example:
  edgetrustctl users delete 0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f`,
			setup: setupUsersDelete,
		},
	}
}

func setupUsersCreate(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		req           api.CreateUserRequest
		passwordStdin bool
	)
	fs.StringVar(&req.Username, "username", "", "username (required)")
	fs.StringArrayVar(&req.Roles, "role", nil, "role id or name to grant at the account (repeat for more)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the user's password from standard input")
	fs.StringVar(&req.Domain, "domain", "", "domain (for session logins)")
	fs.StringVar(&req.UPN, "upn", "", "user principal name")
	fs.StringVar(&req.Email, "email", "", "email address")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if strings.TrimSpace(req.Username) == "" {
			return usagef("users create needs --username")
		}
		if passwordStdin {
			pw, err := readPassword(c.stdin)
			if err != nil {
				return err
			}
			req.Password = pw
		}
		req.AccountID = c.g.account
		u, err := call(c, func(ctx context.Context, cl *api.Client) (*api.UserDetail, error) {
			return cl.CreateUser(ctx, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(u)
		}
		return c.printUsers([]api.UserDetail{*u})
	}
}

func setupUsersList(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		users, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.UserDetail, error) {
			return cl.ListUsers(ctx, c.g.account)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(users)
		}
		return c.printUsers(users)
	}
}

func setupUsersShow(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "user id")
		if err != nil {
			return err
		}
		u, err := call(c, func(ctx context.Context, cl *api.Client) (*api.UserDetail, error) {
			return cl.GetUser(ctx, id)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(u)
		}
		return c.printUsers([]api.UserDetail{*u})
	}
}

func setupUsersUpdate(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		disabled, passwordStdin, noPassword bool
		domain, upn, email                  string
	)
	fs.BoolVar(&disabled, "disabled", false, "disable (true) or enable (false) the user")
	fs.StringVar(&domain, "domain", "", "new domain")
	fs.StringVar(&upn, "upn", "", "new user principal name")
	fs.StringVar(&email, "email", "", "new email address")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read a new password from standard input")
	fs.BoolVar(&noPassword, "no-password", false, "remove the password: the user can no longer sign in with one")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "user id")
		if err != nil {
			return err
		}
		var req api.UpdateUserRequest
		if fs.Changed("disabled") {
			req.Disabled = &disabled
		}
		for flag, dst := range map[string]**string{"domain": &req.Domain, "upn": &req.UPN, "email": &req.Email} {
			if fs.Changed(flag) {
				v, _ := fs.GetString(flag)
				*dst = &v
			}
		}
		switch {
		case passwordStdin && noPassword:
			return usagef("give --password-stdin or --no-password, not both")
		case passwordStdin:
			pw, err := readPassword(c.stdin)
			if err != nil {
				return err
			}
			req.Password = &pw
		case noPassword:
			empty := ""
			req.Password = &empty
		}
		if req == (api.UpdateUserRequest{}) {
			return usagef("nothing to change: give --disabled, --domain, --upn, --email, --password-stdin or --no-password")
		}
		u, err := call(c, func(ctx context.Context, cl *api.Client) (*api.UserDetail, error) {
			return cl.UpdateUser(ctx, id, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(u)
		}
		return c.printUsers([]api.UserDetail{*u})
	}
}

func setupUsersDelete(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "user id")
		if err != nil {
			return err
		}
		_, err = call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.DeleteUser(ctx, id)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"id": id, "deleted": true}, "user %s deleted\n", id)
	}
}

func (c *cli) printUsers(users []api.UserDetail) error {
	return c.table("ID\tUSERNAME\tACCOUNT\tDOMAIN\tDISABLED\tROLES", len(users), func(i int) []string {
		u := users[i]
		var roles []string
		for _, g := range u.Grants {
			r := nameOr(g.RoleName, g.RoleID)
			if g.AccountID != u.AccountID {
				r += " @ " + nameOr(g.AccountName, g.AccountID)
			}
			roles = append(roles, r)
		}
		return []string{u.ID, u.Username, nameOr(u.AccountName, u.AccountID), u.Domain, yesNo(u.Disabled), strings.Join(roles, ", ")}
	})
}
