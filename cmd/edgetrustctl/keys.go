package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The API keys commands: create, list, show, update and delete. The
// commands on a key's values are in keyvalues.go.

var keyTypes = []string{"general", "embedded", "chrome", "edge"}

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
			summary: "list API keys (never their values)",
			help: `Lists the API keys of every account where you may view keys, account by
account, or with --account only that account's: id, name, type, account (by
name), active, auto-trust and expiry. "keys show" prints all of a key's
settings.

Example:
  edgetrustctl keys list -o json`,
			setup: setupKeysList,
		},
		{
			path: "keys show", args: "ID",
			summary: "show an API key and its values (never their secrets)",
			help: `Shows every setting of a key (account, description, group, active,
predefined, auto-trust, allow untrusted endpoints, allow unauthenticated, full
API access, run-as user and role by name, expiry, allowed IPs, who created
it), then each of its values: id, description, use count and limit, last
used at and from, expiry, revoked or not. Never a secret.

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

func setupKeysCreate(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		req        api.CreateKeyRequest
		expires    string
		allowedIPs []string
		inactive   bool
	)
	fs.StringVar(&req.Name, "name", "", "name of the key (required)")
	fs.StringVar(&req.Type, "type", "general", "key type: "+strings.Join(keyTypes, ", "))
	fs.StringVar(&req.Description, "description", "", "description")
	fs.StringVar(&req.Group, "group", "", "group, for sorting many keys")
	fs.BoolVar(&req.AutoTrust, "auto-trust", false, "trust endpoints registering with this key at once, without approval")
	fs.BoolVar(&req.AllowUntrustedEndpoints, "allow-untrusted-endpoints", false, "let untrusted endpoints log users in with this key (insecure; legacy clients only)")
	fs.BoolVar(&req.AllowUnauthenticated, "allow-unauthenticated", false, "allow requests without a user token (insecure; legacy clients only)")
	fs.StringVar(&expires, "expires", "", "expiry time, RFC 3339 (2030-01-01T00:00:00Z); default never")
	fs.StringArrayVar(&allowedIPs, "allowed-ip", nil, "address or CIDR allowed to use the key (repeat for more; default any)")
	fs.BoolVar(&inactive, "inactive", false, "create the key inactive")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if strings.TrimSpace(req.Name) == "" {
			return usagef("keys create needs --name")
		}
		if !contains(keyTypes, req.Type) {
			return usagef("--type %q is not a key type (%s)", req.Type, strings.Join(keyTypes, ", "))
		}
		if expires != "" {
			t, err := time.Parse(time.RFC3339, expires)
			if err != nil {
				return usagef("--expires %q is not an RFC 3339 time like 2030-01-01T00:00:00Z", expires)
			}
			req.ExpiresAt = &t
		}
		for _, ip := range allowedIPs {
			if _, err := netip.ParsePrefix(ip); err == nil {
				continue
			}
			if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" {
				return usagef("--allowed-ip %q is not an IP address or CIDR like 10.1.0.0/16", ip)
			}
		}
		req.AllowedIPs = allowedIPs
		active := !inactive
		req.Active = &active
		req.AccountID = c.g.account
		ck, err := call(c, func(ctx context.Context, cl *api.Client) (*api.CreatedKey, error) {
			return cl.CreateKey(ctx, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(ck)
		}
		if err := c.printKeys([]api.Key{ck.Key}); err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "\nKey value - store it now, it will not be shown again:\n%s\n", ck.Value)
		return err
	}
}

func setupKeysList(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		keys, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Key, error) {
			return cl.ListKeys(ctx, c.g.account)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(keys)
		}
		return c.printKeys(keys)
	}
}

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

func (c *cli) printKeys(keys []api.Key) error {
	return c.table("ID\tNAME\tTYPE\tACCOUNT\tACTIVE\tAUTO-TRUST\tEXPIRES", len(keys), func(i int) []string {
		k := keys[i]
		return []string{k.ID, k.Name, k.Type, nameOr(k.AccountName, k.AccountID), yesNo(k.Active), yesNo(k.AutoTrust), timeCell(k.ExpiresAt, "never")}
	})
}

// printKeyDetail prints every setting of a key, then its values.
func (c *cli) printKeyDetail(k *api.KeyDetail) error {
	ips := "any address"
	if len(k.AllowedIPs) > 0 {
		ips = strings.Join(k.AllowedIPs, ", ")
	}
	rows := [][2]string{
		{"ID", k.ID}, {"NAME", k.Name}, {"TYPE", k.Type}, {"ACCOUNT", nameAndID(k.AccountName, k.AccountID)},
		{"DESCRIPTION", k.Description}, {"GROUP", k.Group}, {"ACTIVE", yesNo(k.Active)}, {"PREDEFINED", yesNo(k.Predefined)},
		{"AUTO-TRUST", yesNo(k.AutoTrust)}, {"ALLOW-UNTRUSTED-ENDPOINTS", yesNo(k.AllowUntrustedEndpoints)},
		{"ALLOW-UNAUTHENTICATED", yesNo(k.AllowUnauthenticated)}, {"FULL-API-ACCESS", yesNo(k.FullAPIAccess)},
		{"RUN-AS-USER", nameAndID(k.RunAsUserName, k.RunAsUserID)}, {"RUN-AS-ROLE", nameAndID(k.RunAsRoleName, k.RunAsRoleID)},
		{"EXPIRES", timeCell(k.ExpiresAt, "never")}, {"ALLOWED-IPS", ips},
		{"CREATED-BY", nameAndID(k.CreatedByName, k.CreatedBy)}, {"CREATED", utc(k.CreatedAt)}, {"UPDATED", utc(k.UpdatedAt)},
	}
	if err := c.table("FIELD\tVALUE", len(rows), func(i int) []string { return rows[i][:] }); err != nil {
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
