package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// This file holds the commands of accounts, users, roles, key values, edge
// devices, bulk endpoint actions and the audit log.

var accountTypes = []string{"vendor", "customer"}

// accountsCommands returns the accounts commands.
func accountsCommands() []*command {
	return []*command{
		{
			path: "accounts list", args: "[--account ID]",
			summary: "list the accounts you may see",
			help: `Lists the accounts where you may view accounts; with --account, only that
account and the accounts below it.

Example:
  edgetrustctl accounts list -o json`,
			setup: setupAccountsList,
		},
		{
			path: "accounts create", args: "--name NAME [--parent ID] [--type vendor|customer] [--require-endpoint-keys] [--require-dpop]",
			summary: "create an account below yours (or --parent)",
			help: `Creates an account. Its parent is --parent, else --account, else your own
account. A new customer account gets the predefined keys (Default key for
client and gateway, Chrome, Embedded, Edge), all allowances off; their values
are shown only once regenerated ("keys regenerate"). --require-endpoint-keys
refuses registrations without a public key; --require-dpop refuses
HCP-Request-Signature as the proof of a device token on login (DPoP only).

Example:
  edgetrustctl accounts create --name "Acme Corp" --type customer -o json`,
			setup: setupAccountsCreate,
		},
		{
			path: "accounts show", args: "ID",
			summary: "show one account and its settings",
			help: `Shows an account with its settings: trust all endpoints, token lifetimes,
quotas and the stale-endpoint time.

Example:
  edgetrustctl accounts show 3f1c0e9a-6b2d-4c8e-9f7a-1d2e3c4b5a69 -o json`,
			setup: setupAccountsShow,
		},
		{
			path: "accounts update", args: "ID [--name N] [--disabled=true|false] [settings]",
			summary: "rename, disable or change the settings of an account",
			help: `Changes only what is given. Disabling an account refuses every key of it and
of the accounts below it. Durations are Go durations (90s, 15m, 12h); 0 means
the broker's default (lifetimes) or never (stale time). Quotas of 0 mean no
limit. --require-endpoint-keys refuses registrations without a public key;
--require-dpop refuses HCP-Request-Signature as the proof of a device token
on login (DPoP only).

Example:
  edgetrustctl accounts update 3f1c0e9a-6b2d-4c8e-9f7a-1d2e3c4b5a69 --name "Acme" \
      --trust-all-endpoints=false --device-token-ttl 15m --key-quota 50`,
			setup: setupAccountsUpdate,
		},
	}
}

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
			help: `Lists the users of --account, or of every account where you may view users.

Example:
  edgetrustctl users list -o json`,
			setup: setupUsersList,
		},
		{
			path: "users show", args: "ID",
			summary: "show one user with its roles",
			help: `Shows a user and its grants (role at account).

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
			path: "roles list", args: "",
			summary: "list the built-in and custom roles",
			help: `Lists the built-in roles (Administrator, Approver, Auditor) and the custom
roles of the accounts where you may view users.

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

// keysCommands returns the keys commands. The commands on a key's values
// (keyvalues.go) come before "keys delete", where the help lists them.
func keysCommands() []*command {
	cmds := []*command{
		{
			path: "keys create", args: "--name NAME [flags]",
			summary: "create an API key; its value is shown once",
			help: `Creates an API key in your account (or --account) with one value. The value
is printed once: store it now, it cannot be shown again. The allowances
--auto-trust, --allow-untrusted-endpoints and --allow-unauthenticated are off
unless given; turn them on only for clients that need them.

Example:
  edgetrustctl keys create --name "Lobby kiosks" --type embedded \
      --allowed-ip 10.1.0.0/16 --expires 2030-01-01T00:00:00Z -o json`,
			setup: setupKeysCreate,
		},
		{
			path: "keys list", args: "[--account ID]",
			summary: "list the API keys of an account (never their values)",
			help: `Lists the API keys of your account (or --account).

Example:
  edgetrustctl keys list -o json`,
			setup: setupKeysList,
		},
		{
			path: "keys show", args: "ID",
			summary: "show an API key and its values (never their secrets)",
			help: `Shows a key's settings and each of its values: id, description, expiry,
use count and limit, last used at and from, revoked or not.

Example:
  edgetrustctl keys show 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f -o json`,
			setup: setupKeysShow,
		},
		{
			path: "keys update", args: "ID [--active=true|false] [--auto-trust=true|false] [--expires T|--no-expiry] [--allowed-ip CIDR]...|--clear-allowed-ips",
			summary: "change an API key's settings",
			help: `Changes only what is given. --allowed-ip (repeatable) replaces the whole
list; --clear-allowed-ips admits any address again. --expires takes an RFC
3339 time or a duration from now (720h); --no-expiry removes the expiry.
Deactivating a key refuses every use of its values at once; endpoints it
registered stay trusted (untrust them with "endpoints untrust --all --key").

Example:
  edgetrustctl keys update 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --active=false
  edgetrustctl keys update 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --allowed-ip 10.1.0.0/16 --no-expiry`,
			setup: setupKeysUpdate,
		},
	}
	cmds = append(cmds, keyValueCommands()...)
	return append(cmds, &command{
		path: "keys delete", args: "ID",
		summary: "delete an API key and all its values",
		help: `Deletes the key; every call presenting one of its values is refused from now
on. Endpoints it registered stay trusted.

Example:
  edgetrustctl keys delete 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f`,
		setup: setupKeysDelete,
	})
}

// keyValueCommands returns the commands on the values of a key.
func keyValueCommands() []*command {
	return []*command{
		{
			path: "keys regenerate", args: "ID [--value VALUE_ID]",
			summary: "replace a value's secret; the old one stops working at once",
			help: `Generates a new secret for one value of the key, under the same key id and
value id; its settings and history stay. The new value is printed once. A key
with several values needs --value (see "keys show"). Endpoints that
registered with the old secret stay trusted.

Example:
  edgetrustctl keys regenerate 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f -o json`,
			setup: setupKeysRegenerate,
		},
		{
			path: "keys add-value", args: "ID --description D [--use-limit N] [--expires RFC3339]",
			summary: "add a value to an API key; it is shown once",
			help: `Generates a new value of the key, with its own description, optional use
limit (registrations it admits; 0 = unlimited) and expiry. The value is
printed once.

Example:
  edgetrustctl keys add-value 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --description "batch 7" \
      --use-limit 20 --expires 2030-01-01T00:00:00Z -o json`,
			setup: setupKeysAddValue,
		},
		{
			path: "keys revoke-value", args: "ID VALUE_ID",
			summary: "revoke one value of an API key",
			help: `Revokes one value; the key's other values keep working. Revoking twice does
nothing.

Example:
  edgetrustctl keys revoke-value 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b`,
			setup: setupKeysRevokeValue,
		},
	}
}

// edgeDeviceCommands returns the edge device commands.
func edgeDeviceCommands() []*command {
	return []*command{
		{
			path: "edge add", args: "--name NAME [--description D]",
			summary: "add an edge device: a new value of the account's Edge key",
			help: `Adds an edge device to --account (default: your own account): a new value
of the account's predefined Edge key, printed once. It is the device's own
credential and is revoked with "edge remove".

Example:
  edgetrustctl edge add --name bridge-7 --description "Warehouse 7" -o json`,
			setup: setupEdgeAdd,
		},
		{
			path: "edge remove", args: "VALUE_ID",
			summary: "remove an edge device (revoke its value)",
			help: `Revokes the edge device's value in --account (default: your own account).

Example:
  edgetrustctl edge remove 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b`,
			setup: setupEdgeRemove,
		},
	}
}

// auditCommands returns the audit command.
func auditCommands() []*command {
	return []*command{
		{
			path: "audit", args: "[--since RFC3339] [--until RFC3339] [--action A] [--actor A] [--target T] [--outcome O] [--limit N]",
			summary: "list the audit log",
			help: `Lists audit events, oldest first: every change and every security decision,
of --account or of every account where you may view the audit log. --action
is exact (endpoint.approve) or a prefix ending in a dot (endpoint.). --since
and --until take RFC 3339 times or a duration back from now (24h).

Example:
  edgetrustctl audit --since 2030-01-01T00:00:00Z --action apikey. -o json`,
			setup: setupAudit,
		},
	}
}

// oneID checks that args is exactly one id.
func oneID(args []string, what string) (string, error) {
	switch len(args) {
	case 1:
		if strings.TrimSpace(args[0]) == "" {
			return "", usagef("the %s is empty", what)
		}
		return args[0], nil
	case 0:
		return "", usagef("give the %s", what)
	default:
		return "", usagef("unexpected argument %q: give one %s", args[1], what)
	}
}

// --- accounts ---

func setupAccountsCreate(fs *pflag.FlagSet) func(*cli, []string) error {
	var req api.CreateAccountRequest
	fs.StringVar(&req.Name, "name", "", "name of the account (required)")
	fs.StringVar(&req.ParentID, "parent", "", "parent account id (default: --account, else your own account)")
	fs.StringVar(&req.Type, "type", "customer", "account type: vendor or customer")
	fs.BoolVar(&req.TrustAllEndpoints, "trust-all-endpoints", false, "trust every endpoint registering in the account at once")
	fs.BoolVar(&req.DenyUserCreation, "deny-user-creation", false, "refuse session logins of unknown users instead of creating them")
	var requireKeys, requireDPoP bool
	fs.BoolVar(&requireKeys, "require-endpoint-keys", false, "refuse registrations without a public key")
	fs.BoolVar(&requireDPoP, "require-dpop", false, "refuse HCP-Request-Signature as the proof of a device token on login: DPoP only")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if requireKeys || requireDPoP {
			req.Settings = &api.AccountSettings{RequireEndpointKeys: requireKeys, RequireDPoP: requireDPoP}
		}
		if strings.TrimSpace(req.Name) == "" {
			return usagef("accounts create needs --name")
		}
		if !contains(accountTypes, req.Type) {
			return usagef("--type %q is not an account type (vendor, customer)", req.Type)
		}
		if req.ParentID == "" {
			req.ParentID = c.g.account
		}
		acct, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Account, error) {
			return cl.CreateAccount(ctx, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(acct)
		}
		return c.printAccounts([]api.Account{*acct})
	}
}

func setupAccountsShow(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "account id")
		if err != nil {
			return err
		}
		acct, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Account, error) {
			return cl.GetAccount(ctx, id)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(acct)
		}
		return c.printAccountDetail(acct)
	}
}

func setupAccountsUpdate(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		name                         string
		disabled, trustAll, denyUser bool
		deviceTTL, userTTL, refTTL   time.Duration
		staleAfter                   time.Duration
		keyQuota, endpointQuota      int
		deleteStale                  bool
		requireKeys, requireDPoP     bool
	)
	fs.StringVar(&name, "name", "", "new name")
	fs.BoolVar(&disabled, "disabled", false, "disable (true) or enable (false) the account")
	fs.BoolVar(&trustAll, "trust-all-endpoints", false, "trust every endpoint registering in the account at once")
	fs.BoolVar(&denyUser, "deny-user-creation", false, "refuse session logins of unknown users instead of creating them")
	fs.DurationVar(&deviceTTL, "device-token-ttl", 0, "device token lifetime (0 = broker default)")
	fs.DurationVar(&userTTL, "user-token-ttl", 0, "user token lifetime (0 = broker default)")
	fs.DurationVar(&refTTL, "refresh-ttl", 0, "refresh token lifetime (0 = broker default)")
	fs.IntVar(&keyQuota, "key-quota", 0, "most API keys the account may hold (0 = no limit)")
	fs.IntVar(&endpointQuota, "endpoint-quota", 0, "most endpoints the account may hold (0 = no limit)")
	fs.DurationVar(&staleAfter, "stale-after", 0, "mark endpoints not seen for this long stale (0 = never)")
	fs.BoolVar(&deleteStale, "delete-stale", false, "delete stale endpoints instead of marking them")
	fs.BoolVar(&requireKeys, "require-endpoint-keys", false, "refuse registrations without a public key")
	fs.BoolVar(&requireDPoP, "require-dpop", false, "refuse HCP-Request-Signature as the proof of a device token on login: DPoP only")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "account id")
		if err != nil {
			return err
		}
		var req api.UpdateAccountRequest
		ch := fs.Changed
		if ch("name") {
			if strings.TrimSpace(name) == "" {
				return usagef("--name is empty")
			}
			req.Name = &name
		}
		if ch("disabled") {
			req.Disabled = &disabled
		}
		if ch("trust-all-endpoints") {
			req.TrustAllEndpoints = &trustAll
		}
		if ch("deny-user-creation") {
			req.DenyUserCreation = &denyUser
		}
		settings := []string{"device-token-ttl", "user-token-ttl", "refresh-ttl", "key-quota", "endpoint-quota", "stale-after", "delete-stale",
			"require-endpoint-keys", "require-dpop"}
		anySetting := false
		for _, s := range settings {
			anySetting = anySetting || ch(s)
		}
		for name, d := range map[string]time.Duration{"device-token-ttl": deviceTTL, "user-token-ttl": userTTL, "refresh-ttl": refTTL, "stale-after": staleAfter} {
			if d < 0 || d%time.Second != 0 {
				return usagef("--%s must be whole seconds, 0 or more (like 15m)", name)
			}
		}
		if keyQuota < 0 || endpointQuota < 0 {
			return usagef("quotas must be 0 (no limit) or more")
		}
		if req.Name == nil && req.Disabled == nil && req.TrustAllEndpoints == nil && req.DenyUserCreation == nil && !anySetting {
			return usagef("nothing to change: give --name, --disabled, --trust-all-endpoints, --deny-user-creation or a setting")
		}
		acct, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Account, error) {
			if anySetting {
				// The API replaces all settings at once: start from the current ones.
				cur, err := cl.GetAccount(ctx, id)
				if err != nil {
					return nil, err
				}
				s := cur.Settings
				set := func(flag string, dst *int64, d time.Duration) {
					if ch(flag) {
						*dst = int64(d / time.Second)
					}
				}
				set("device-token-ttl", &s.DeviceTokenTTLSeconds, deviceTTL)
				set("user-token-ttl", &s.UserTokenTTLSeconds, userTTL)
				set("refresh-ttl", &s.RefreshTTLSeconds, refTTL)
				set("stale-after", &s.StaleAfterSeconds, staleAfter)
				if ch("key-quota") {
					s.KeyQuota = keyQuota
				}
				if ch("endpoint-quota") {
					s.EndpointQuota = endpointQuota
				}
				if ch("delete-stale") {
					s.DeleteStale = deleteStale
				}
				if ch("require-endpoint-keys") {
					s.RequireEndpointKeys = requireKeys
				}
				if ch("require-dpop") {
					s.RequireDPoP = requireDPoP
				}
				req.Settings = &s
			}
			return cl.UpdateAccount(ctx, id, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(acct)
		}
		return c.printAccountDetail(acct)
	}
}

func (c *cli) printAccounts(accts []api.Account) error {
	return c.table("ID\tNAME\tTYPE\tPARENT\tDISABLED", len(accts), func(i int) []string {
		a := accts[i]
		return []string{a.ID, a.Name, a.Type, a.ParentID, yesNo(a.Disabled)}
	})
}

func (c *cli) printAccountDetail(a *api.Account) error {
	secs := func(n int64, zero string) string {
		if n == 0 {
			return zero
		}
		return (time.Duration(n) * time.Second).String()
	}
	quota := func(n int) string {
		if n == 0 {
			return "no limit"
		}
		return fmt.Sprint(n)
	}
	s := a.Settings
	rows := [][2]string{
		{"ID", a.ID}, {"NAME", a.Name}, {"TYPE", a.Type}, {"PARENT", a.ParentID}, {"DISABLED", yesNo(a.Disabled)},
		{"TRUST-ALL-ENDPOINTS", yesNo(a.TrustAllEndpoints)}, {"DENY-USER-CREATION", yesNo(a.DenyUserCreation)},
		{"DEVICE-TOKEN-TTL", secs(s.DeviceTokenTTLSeconds, "default")}, {"USER-TOKEN-TTL", secs(s.UserTokenTTLSeconds, "default")},
		{"REFRESH-TTL", secs(s.RefreshTTLSeconds, "default")}, {"KEY-QUOTA", quota(s.KeyQuota)},
		{"ENDPOINT-QUOTA", quota(s.EndpointQuota)}, {"STALE-AFTER", secs(s.StaleAfterSeconds, "never")},
		{"DELETE-STALE", yesNo(s.DeleteStale)}, {"REQUIRE-ENDPOINT-KEYS", yesNo(s.RequireEndpointKeys)},
		{"REQUIRE-DPOP", yesNo(s.RequireDPoP)}, {"CREATED", a.CreatedAt.UTC().Format(time.RFC3339)},
	}
	return c.table("FIELD\tVALUE", len(rows), func(i int) []string { return rows[i][:] })
}

// --- users ---

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
				return c.done(g, "granted %s to user %s at account %s\n", g.RoleID, id, g.AccountID)
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

func (c *cli) printUsers(users []api.UserDetail) error {
	return c.table("ID\tUSERNAME\tACCOUNT\tDOMAIN\tDISABLED\tROLES", len(users), func(i int) []string {
		u := users[i]
		var roles []string
		for _, g := range u.Grants {
			r := g.RoleID
			if g.AccountID != u.AccountID {
				r += "@" + g.AccountID
			}
			roles = append(roles, r)
		}
		return []string{u.ID, u.Username, u.AccountID, u.Domain, yesNo(u.Disabled), strings.Join(roles, ",")}
	})
}

// done prints the result of a command without another answer: v with -o
// json, else the formatted line.
func (c *cli) done(v any, format string, args ...any) error {
	if c.g.output == "json" {
		return c.printJSON(v)
	}
	_, err := fmt.Fprintf(c.stdout, format, args...)
	return err
}

// --- roles ---

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
		return []string{r.ID, r.Name, r.AccountID, yesNo(r.BuiltIn), strings.Join(r.Permissions, ",")}
	})
}

// --- keys ---

func setupKeysShow(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "key id")
		if err != nil {
			return err
		}
		k, err := call(c, func(ctx context.Context, cl *api.Client) (*api.KeyDetail, error) {
			return cl.GetKey(ctx, id)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(k)
		}
		return c.printKeyDetail(k)
	}
}

func (c *cli) printKeyDetail(k *api.KeyDetail) error {
	if err := c.printKeys([]api.Key{k.Key}); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	return c.table("VALUE-ID\tDESCRIPTION\tUSES\tLIMIT\tLAST-USED\tFROM\tEXPIRES\tREVOKED", len(k.Values), func(i int) []string {
		v := k.Values[i]
		limit := "none"
		if v.UseLimit > 0 {
			limit = fmt.Sprint(v.UseLimit)
		}
		return []string{v.ID, v.Description, fmt.Sprint(v.UseCount), limit, timeCell(v.LastUsedAt, "never"),
			v.LastUsedFrom, timeCell(v.ExpiresAt, "never"), timeCell(v.RevokedAt, "no")}
	})
}

// parseWhen reads an RFC 3339 time, or a duration from now (sign +1) or
// back from now (sign -1).
func parseWhen(c *cli, flag, s string, sign time.Duration) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return c.now().Add(sign * d).UTC().Truncate(time.Second), nil
	}
	return time.Time{}, usagef("--%s %q is not an RFC 3339 time like 2030-01-01T00:00:00Z or a duration like 720h", flag, s)
}

func checkIPs(ips []string) error {
	for _, ip := range ips {
		if _, err := netip.ParsePrefix(ip); err == nil {
			continue
		}
		if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" {
			return usagef("--allowed-ip %q is not an IP address or CIDR like 10.1.0.0/16", ip)
		}
	}
	return nil
}

func setupKeysUpdate(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		name, description, group, expires          string
		active, autoTrust, allowUntrusted, allowUn bool
		fullAPI, noExpiry, clearIPs                bool
		allowedIPs                                 []string
		runAsUser, runAsRole                       string
	)
	fs.BoolVar(&active, "active", true, "activate (true) or deactivate (false) the key")
	fs.BoolVar(&autoTrust, "auto-trust", false, "trust endpoints registering with the key at once")
	fs.StringVar(&expires, "expires", "", "expiry: RFC 3339 time or a duration from now (720h)")
	fs.BoolVar(&noExpiry, "no-expiry", false, "remove the expiry: the key never expires")
	fs.StringArrayVar(&allowedIPs, "allowed-ip", nil, "address or CIDR allowed to use the key; replaces the list (repeat for more)")
	fs.BoolVar(&clearIPs, "clear-allowed-ips", false, "admit any address again")
	fs.StringVar(&name, "name", "", "new name")
	fs.StringVar(&description, "description", "", "new description")
	fs.StringVar(&group, "group", "", "new group")
	fs.BoolVar(&allowUntrusted, "allow-untrusted-endpoints", false, "let untrusted endpoints log users in (insecure; legacy clients only)")
	fs.BoolVar(&allowUn, "allow-unauthenticated", false, "allow requests without a user token (insecure; legacy clients only)")
	fs.BoolVar(&fullAPI, "full-api-access", false, "let the key call the admin API: beside a user token, or alone (with --allow-unauthenticated) as its run-as user")
	fs.StringVar(&runAsUser, "run-as-user", "", "user id the key acts as on the admin API")
	fs.StringVar(&runAsRole, "run-as-role", "", "role id the key acts with on the admin API")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "key id")
		if err != nil {
			return err
		}
		var req api.UpdateKeyRequest
		ch := fs.Changed
		for flag, dst := range map[string]**bool{
			"active": &req.Active, "auto-trust": &req.AutoTrust, "allow-untrusted-endpoints": &req.AllowUntrustedEndpoints,
			"allow-unauthenticated": &req.AllowUnauthenticated, "full-api-access": &req.FullAPIAccess,
		} {
			if ch(flag) {
				v, _ := fs.GetBool(flag)
				*dst = &v
			}
		}
		for flag, dst := range map[string]**string{
			"name": &req.Name, "description": &req.Description, "group": &req.Group,
			"run-as-user": &req.RunAsUserID, "run-as-role": &req.RunAsRoleID,
		} {
			if ch(flag) {
				v, _ := fs.GetString(flag)
				*dst = &v
			}
		}
		switch {
		case ch("expires") && noExpiry:
			return usagef("give --expires or --no-expiry, not both")
		case ch("expires"):
			t, err := parseWhen(c, "expires", expires, 1)
			if err != nil {
				return err
			}
			req.ExpiresAt = &t
		case noExpiry:
			req.NoExpiry = true
		}
		switch {
		case len(allowedIPs) > 0 && clearIPs:
			return usagef("give --allowed-ip or --clear-allowed-ips, not both")
		case len(allowedIPs) > 0:
			if err := checkIPs(allowedIPs); err != nil {
				return err
			}
			req.AllowedIPs = &allowedIPs
		case clearIPs:
			req.AllowedIPs = &[]string{}
		}
		if req == (api.UpdateKeyRequest{}) {
			return usagef("nothing to change: give --active, --auto-trust, --expires, --no-expiry, --allowed-ip, --clear-allowed-ips or another setting")
		}
		k, err := call(c, func(ctx context.Context, cl *api.Client) (*api.KeyDetail, error) {
			return cl.UpdateKey(ctx, id, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(k)
		}
		return c.printKeyDetail(k)
	}
}

func setupKeysRegenerate(fs *pflag.FlagSet) func(*cli, []string) error {
	var valueID string
	fs.StringVar(&valueID, "value", "", "id of the value to regenerate (required when the key has several)")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "key id")
		if err != nil {
			return err
		}
		cn, err := c.connect()
		if err != nil {
			return err
		}
		if valueID == "" {
			var k *api.KeyDetail
			err := cn.do(func(ctx context.Context, cl *api.Client) error {
				var err error
				k, err = cl.GetKey(ctx, id)
				return err
			})
			switch {
			case err == nil:
				var live []string
				for _, v := range k.Values {
					if !v.Revoked {
						live = append(live, fmt.Sprintf("%s (%q)", v.ID, v.Description))
					}
				}
				if len(live) > 1 {
					return usagef("key %s has %d values: name the one to regenerate with --value: %s", id, len(live), strings.Join(live, ", "))
				}
				if len(live) == 1 {
					valueID = strings.Fields(live[0])[0]
				}
			case api.IsStatus(err, http.StatusForbidden):
				// May regenerate without seeing the key: the broker decides.
			default:
				return c.describe(err, cn.cl.BaseURL())
			}
		}
		var cv *api.CreatedValue
		err = cn.do(func(ctx context.Context, cl *api.Client) error {
			var err error
			cv, err = cl.RegenerateKeyValue(ctx, id, valueID)
			return err
		})
		if err != nil {
			return c.describe(err, cn.cl.BaseURL())
		}
		if c.g.output == "json" {
			return c.printJSON(cv)
		}
		_, err = fmt.Fprintf(c.stdout, "Value %s of key %s regenerated; the old secret no longer works.\nNew value - store it now, it will not be shown again:\n%s\n", cv.ValueID, cv.ID, cv.Value)
		return err
	}
}

func setupKeysAddValue(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		req     api.AddValueRequest
		expires string
	)
	fs.StringVar(&req.Description, "description", "", "what the value is for (required)")
	fs.Int64Var(&req.UseLimit, "use-limit", 0, "registrations the value admits (0 = unlimited)")
	fs.StringVar(&expires, "expires", "", "expiry: RFC 3339 time or a duration from now (720h); default never")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "key id")
		if err != nil {
			return err
		}
		if strings.TrimSpace(req.Description) == "" {
			return usagef("keys add-value needs --description")
		}
		if req.UseLimit < 0 {
			return usagef("--use-limit must be 0 (unlimited) or more")
		}
		if expires != "" {
			t, err := parseWhen(c, "expires", expires, 1)
			if err != nil {
				return err
			}
			req.ExpiresAt = &t
		}
		cv, err := call(c, func(ctx context.Context, cl *api.Client) (*api.CreatedValue, error) {
			return cl.AddKeyValue(ctx, id, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(cv)
		}
		_, err = fmt.Fprintf(c.stdout, "Value %s added to key %s.\nValue - store it now, it will not be shown again:\n%s\n", cv.ValueID, cv.ID, cv.Value)
		return err
	}
}

func setupKeysRevokeValue(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if len(args) != 2 {
			return usagef("give the key id and the value id (see %q)", prog+" keys show ID")
		}
		id, valueID := args[0], args[1]
		_, err := call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.RevokeKeyValue(ctx, id, valueID)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"id": id, "value_id": valueID, "revoked": true}, "value %s of key %s revoked\n", valueID, id)
	}
}

func setupKeysDelete(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "key id")
		if err != nil {
			return err
		}
		_, err = call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.DeleteKey(ctx, id)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"id": id, "deleted": true}, "key %s deleted\n", id)
	}
}

// --- edge devices ---

func setupEdgeAdd(fs *pflag.FlagSet) func(*cli, []string) error {
	var req api.EdgeDeviceRequest
	fs.StringVar(&req.Name, "name", "", "name of the edge device (required)")
	fs.StringVar(&req.Description, "description", "", "description")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if strings.TrimSpace(req.Name) == "" {
			return usagef("edge add needs --name")
		}
		req.AccountID = c.g.account
		cv, err := call(c, func(ctx context.Context, cl *api.Client) (*api.CreatedValue, error) {
			return cl.AddEdgeDevice(ctx, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(cv)
		}
		_, err = fmt.Fprintf(c.stdout, "Edge device %q added as value %s of the Edge key %s.\nIts value - store it now, it will not be shown again:\n%s\n", req.Name, cv.ValueID, cv.ID, cv.Value)
		return err
	}
}

func setupEdgeRemove(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		valueID, err := oneID(args, "edge device's value id")
		if err != nil {
			return err
		}
		_, err = call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.RemoveEdgeDevice(ctx, c.g.account, valueID)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"value_id": valueID, "removed": true}, "edge device %s removed\n", valueID)
	}
}

// --- endpoints in bulk ---

// endpointsAct applies action to the endpoints named by ids, or with --all
// to every endpoint matching the filter, through the bulk route, and prints
// one result per endpoint.
func (c *cli) endpointsAct(action string, ids []string, all bool, f api.BulkFilter) error {
	req := api.BulkRequest{Action: action}
	switch {
	case all && len(ids) > 0:
		return usagef("give endpoint ids or --all, not both")
	case all:
		if f.State == "" {
			return usagef("--all needs --state (%s): say which endpoints to %s", strings.Join(listStates, ", "), action)
		}
		if !contains(listStates, f.State) {
			return usagef("--state %q is not a state (%s)", f.State, strings.Join(listStates, ", "))
		}
		if f.Type != "" && !contains(endpointTypes, f.Type) {
			return usagef("--type %q is not a client type (%s)", f.Type, strings.Join(endpointTypes, ", "))
		}
		if f.From != "" {
			_, perr := netip.ParsePrefix(f.From)
			if _, aerr := netip.ParseAddr(f.From); perr != nil && aerr != nil {
				return usagef("--from %q is not a CIDR like 10.1.0.0/16", f.From)
			}
		}
		f.AccountID = c.g.account
		req.Filter = &f
	case len(ids) == 0:
		return usagef("endpoints %s needs at least one endpoint id, or --all --state STATE", action)
	default:
		if f != (api.BulkFilter{}) {
			return usagef("--state, --key, --type and --from select endpoints only with --all")
		}
		req.IDs = ids
	}
	resp, err := call(c, func(ctx context.Context, cl *api.Client) (*api.BulkResponse, error) {
		return cl.BulkEndpoints(ctx, req)
	})
	if err != nil {
		return err
	}
	if c.g.output == "json" {
		if err := c.printJSON(resp.Results); err != nil {
			return err
		}
	} else {
		err := c.table("ID\tRESULT\tSTATE", len(resp.Results), func(i int) []string {
			r := resp.Results[i]
			result := r.Outcome
			if !r.OK && r.Error != "" {
				result += ": " + r.Error
			}
			return []string{r.ID, result, r.State}
		})
		if err != nil {
			return err
		}
	}
	if resp.Failed > 0 {
		return fmt.Errorf("%d of %d endpoints could not be %s: see the results above, and check the ids and states with %q",
			resp.Failed, len(resp.Results), pastTense(action), prog+" endpoints list")
	}
	return nil
}

// --- audit ---

func setupAudit(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		f            api.AuditFilter
		since, until string
	)
	fs.StringVar(&since, "since", "", "only events at or after this time: RFC 3339, or a duration back from now (24h)")
	fs.StringVar(&until, "until", "", "only events before this time: RFC 3339, or a duration back from now")
	fs.StringVar(&f.Action, "action", "", "only this action (endpoint.approve), or actions starting with a prefix ending in a dot (endpoint.)")
	fs.StringVar(&f.Actor, "actor", "", "only events of this actor (user:ID, key:ID, endpoint:ID, system)")
	fs.StringVar(&f.Target, "target", "", "only events on this target (endpoint:ID, apikey:ID, user:ID, ...)")
	fs.StringVar(&f.Outcome, "outcome", "", "only success or failure")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many events (default: all)")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		var err error
		if since != "" {
			if f.Since, err = parseWhen(c, "since", since, -1); err != nil {
				return err
			}
		}
		if until != "" {
			if f.Until, err = parseWhen(c, "until", until, -1); err != nil {
				return err
			}
		}
		if f.Outcome != "" && f.Outcome != "success" && f.Outcome != "failure" {
			return usagef("--outcome %q is not success or failure", f.Outcome)
		}
		if f.Limit < 0 {
			return usagef("--limit must be more than 0")
		}
		f.AccountID = c.g.account
		want := f.Limit
		events, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.AuditEvent, error) {
			// Page through with after_id until the log (or --limit) is exhausted.
			const page = 1000
			out := []api.AuditEvent{}
			pf := f
			for {
				pf.Limit = page
				if want > 0 {
					pf.Limit = min(page, want-len(out))
				}
				got, err := cl.ListAudit(ctx, pf)
				if err != nil {
					return nil, err
				}
				out = append(out, got...)
				if len(got) < pf.Limit || (want > 0 && len(out) >= want) || len(got) == 0 {
					return out, nil
				}
				pf.AfterID = got[len(got)-1].ID
			}
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(events)
		}
		return c.table("TIME\tACTOR\tACTION\tACCOUNT\tTARGET\tOUTCOME\tREMOTE", len(events), func(i int) []string {
			e := events[i]
			return []string{e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, e.AccountID, e.Target, e.Outcome, e.Remote}
		})
	}
}
