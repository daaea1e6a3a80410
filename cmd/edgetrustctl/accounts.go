package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The accounts commands: list, create, show and update (SPEC §6).

var accountTypes = []string{"vendor", "customer"}

// accountsCommands returns the accounts commands.
func accountsCommands() []*command {
	return []*command{
		{
			path: "accounts list", args: "[--account ID]",
			summary: "list the accounts you may see",
			help: `Lists the accounts where you may view accounts: id, name, type, parent (by
name, or by id when you cannot see it) and whether it is disabled. With
--account, only that account and the accounts below it.

Example:
  edgetrustctl accounts list -o json`,
			setup: setupAccountsList,
		},
		{
			path: "accounts create", args: "--name NAME [--parent ID] [--type vendor|customer] [--require-endpoint-keys] [--require-dpop]",
			summary: "create an account below yours (or --parent)",
			help: `Creates an account. Its parent is --parent, else --account, else your own
account. Its name must differ, ignoring case, from those of the parent's
other accounts ("Acme Corp" and "ACME CORP" are one name). A new customer
account gets the predefined keys (Default key for
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
			help: `Shows an account with its parent (name and id) and its settings: trust all
endpoints, user creation, token lifetimes, quotas, the stale-endpoint time
and what registrations and logins must present.

Example:
  edgetrustctl accounts show 3f1c0e9a-6b2d-4c8e-9f7a-1d2e3c4b5a69 -o json`,
			setup: setupAccountsShow,
		},
		{
			path: "accounts update", args: "ID [--name N] [--disabled=true|false] [settings]",
			summary: "rename, disable or change the settings of an account",
			help: `Changes only what is given. A new --name must differ, ignoring case, from
those of the account's siblings. Disabling an account refuses every key of
it and of the accounts below it. Durations are Go durations (90s, 15m, 12h); 0 means
the broker's default (lifetimes) or never (stale time). Quotas of 0 mean no
limit. --require-endpoint-keys refuses registrations without a public key;
--require-dpop refuses HCP-Request-Signature as the proof of a device token
on login (DPoP only). --lock-out-clones untrusts an endpoint the moment a
clone of it is suspected (two copies of its identity refreshing), so both
copies are refused until an administrator approves it again; off (the
default), the endpoint is only marked (docs/clones.md).

Example:
  edgetrustctl accounts update 3f1c0e9a-6b2d-4c8e-9f7a-1d2e3c4b5a69 --name "Acme" \
      --trust-all-endpoints=false --device-token-ttl 15m --key-quota 50`,
			setup: setupAccountsUpdate,
		},
	}
}

func setupAccountsList(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		accts, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Account, error) {
			return cl.ListAccounts(ctx)
		})
		if err != nil {
			return err
		}
		if c.g.account != "" {
			accts = subtree(accts, c.g.account)
		}
		if c.g.output == "json" {
			return c.printJSON(accts)
		}
		return c.printAccounts(accts)
	}
}

// subtree keeps the account id and the accounts below it, in list order.
func subtree(accts []api.Account, id string) []api.Account {
	parent := map[string]string{}
	for _, a := range accts {
		parent[a.ID] = a.ParentID
	}
	out := []api.Account{}
	for _, a := range accts {
		for cur, n := a.ID, 0; cur != "" && n <= len(accts); cur, n = parent[cur], n+1 {
			if cur == id {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

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

// setupAccountsUpdate is long (about 105 lines) because each of its
// thirteen flags is read back only when given (fs.Changed), and the account
// settings, which the API replaces as a whole, are merged into the current
// ones flag by flag; split up, the pieces would share all those variables.
func setupAccountsUpdate(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		name                            string
		disabled, trustAll, denyUser    bool
		deviceTTL, userTTL, refTTL      time.Duration
		staleAfter                      time.Duration
		keyQuota, endpointQuota         int
		pendingPerValue, pendingPerAcct int
		deleteStale                     bool
		requireKeys, requireDPoP        bool
		lockOutClones                   bool
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
	fs.IntVar(&pendingPerValue, "pending-per-key-value", 0, "most registrations made with one key value that may await a decision (0 = the default, 10000)")
	fs.IntVar(&pendingPerAcct, "pending-per-account", 0, "most registrations in the account that may await a decision (0 = the default, 50000)")
	fs.DurationVar(&staleAfter, "stale-after", 0, "mark endpoints not seen for this long stale (0 = never)")
	fs.BoolVar(&deleteStale, "delete-stale", false, "delete stale endpoints instead of marking them")
	fs.BoolVar(&requireKeys, "require-endpoint-keys", false, "refuse registrations without a public key")
	fs.BoolVar(&requireDPoP, "require-dpop", false, "refuse HCP-Request-Signature as the proof of a device token on login: DPoP only")
	fs.BoolVar(&lockOutClones, "lock-out-clones", false, "untrust an endpoint the moment a clone of it is suspected (default: only mark it)")
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
			"require-endpoint-keys", "require-dpop", "pending-per-key-value", "pending-per-account", "lock-out-clones"}
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
		if pendingPerValue < 0 || pendingPerAcct < 0 {
			return usagef("--pending-per-key-value and --pending-per-account must be 0 (the default) or more")
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
				if ch("pending-per-key-value") {
					s.PendingPerKeyValue = pendingPerValue
				}
				if ch("pending-per-account") {
					s.PendingPerAccount = pendingPerAcct
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
				if ch("lock-out-clones") {
					s.LockOutClones = lockOutClones
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
		return []string{a.ID, a.Name, a.Type, nameOr(a.ParentName, a.ParentID), yesNo(a.Disabled)}
	})
}

// orDefault shows a cap whose 0 means the broker's default def.
func orDefault(n, def int) string {
	if n == 0 {
		return fmt.Sprintf("%d (default)", def)
	}
	return fmt.Sprint(n)
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
		{"ID", a.ID}, {"NAME", a.Name}, {"TYPE", a.Type}, {"PARENT", nameAndID(a.ParentName, a.ParentID)}, {"DISABLED", yesNo(a.Disabled)},
		{"TRUST-ALL-ENDPOINTS", yesNo(a.TrustAllEndpoints)}, {"DENY-USER-CREATION", yesNo(a.DenyUserCreation)},
		{"DEVICE-TOKEN-TTL", secs(s.DeviceTokenTTLSeconds, "default")}, {"USER-TOKEN-TTL", secs(s.UserTokenTTLSeconds, "default")},
		{"REFRESH-TTL", secs(s.RefreshTTLSeconds, "default")}, {"KEY-QUOTA", quota(s.KeyQuota)},
		{"ENDPOINT-QUOTA", quota(s.EndpointQuota)}, {"STALE-AFTER", secs(s.StaleAfterSeconds, "never")},
		{"DELETE-STALE", yesNo(s.DeleteStale)}, {"REQUIRE-ENDPOINT-KEYS", yesNo(s.RequireEndpointKeys)},
		{"REQUIRE-DPOP", yesNo(s.RequireDPoP)}, {"LOCK-OUT-CLONES", yesNo(s.LockOutClones)},
		{"PENDING-PER-KEY-VALUE", orDefault(s.PendingPerKeyValue, 10000)}, {"PENDING-PER-ACCOUNT", orDefault(s.PendingPerAccount, 50000)},
		{"CREATED", a.CreatedAt.UTC().Format(time.RFC3339)},
	}
	return c.table("FIELD\tVALUE", len(rows), func(i int) []string { return rows[i][:] })
}
