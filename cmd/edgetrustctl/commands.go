package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

var (
	keyTypes      = []string{"general", "embedded", "chrome", "edge"}
	endpointTypes = []string{"desktop_client", "server", "printer", "embedded_terminal", "edge_bridge", "chrome_extension", "mobile_device"}
	listStates    = []string{api.StatePending, api.StateTrusted, api.StateRejected, api.StateUntrusted}
)

// groupOrder orders the commands in the help text.
var groupOrder = []string{"login", "sessions", "accounts", "users", "roles", "keys", "edge", "endpoints", "audit"}

// commandSets are the functions returning each resource's commands, one per
// file. Within a group the help keeps the order they give.
var commandSets = []func() []*command{
	signinCommands, sessionsCommands, accountsCommands, usersCommands, rolesCommands,
	keysCommands, edgeDeviceCommands, endpointsCommands, keyChangeCommands, auditCommands,
}

// commands returns every command, grouped by their first word in
// groupOrder.
func commands() []*command {
	var cmds []*command
	for _, set := range commandSets {
		cmds = append(cmds, set()...)
	}
	slices.SortStableFunc(cmds, func(a, b *command) int {
		ga, _, _ := strings.Cut(a.path, " ")
		gb, _, _ := strings.Cut(b.path, " ")
		return slices.Index(groupOrder, ga) - slices.Index(groupOrder, gb)
	})
	return cmds
}

// signinCommands returns the sign-in command.
func signinCommands() []*command {
	return []*command{
		{
			path: "login", args: "--username USER --password-stdin [--account ID]",
			summary: "sign in with a username and password and keep the session",
			help: `Signs in to the broker as an administrator (no API key is needed) and keeps
the session - broker URL, CA file and tokens - in $EDGETRUST_CONFIG_DIR/session.json
(mode 0600). Later commands use it and renew the access token by themselves.
The password is read from standard input (one line). Name the account with
--account when the username exists in several accounts.

Example:
  edgetrustctl login --server https://127.0.0.1:7443 \
      --ca-file /var/lib/edgetrust/tls/broker.crt \
      --username admin --password-stdin < /var/lib/edgetrust/initial-admin-password`,
			setup: setupLogin,
		},
	}
}

// endpointsCommands returns the endpoints commands, on one endpoint or many.
func endpointsCommands() []*command {
	return []*command{
		{
			path: "endpoints list", args: "[--state STATE] [--type TYPE] [--key ID] [--from CIDR] [--seen-before T] [--seen-after T] [--search TEXT]",
			summary: "list endpoints",
			help: `Lists the endpoints you may see, filtered by state, client type, the API key
they registered with, account (--account), the address they registered from,
when they were last seen and text in their id, host name or description.

Example:
  edgetrustctl endpoints list --state pending --key 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f`,
			setup: setupEndpointsList,
		},
		endpointAction("approve", "trust endpoints (pending, rejected or untrusted ones)"),
		endpointAction("reject", "reject pending endpoints"),
		endpointAction("untrust", "untrust trusted endpoints: their tokens stop working at once"),
		endpointAction("delete", "delete endpoints in any state"),
	}
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

func setupLogin(fs *pflag.FlagSet) func(*cli, []string) error {
	var username string
	var passwordStdin bool
	fs.StringVarP(&username, "username", "u", "", "username to sign in as (required)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input (required)")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if username == "" {
			return usagef("login needs --username")
		}
		if !passwordStdin {
			return usagef("login needs --password-stdin: pipe the password on standard input, never on the command line")
		}
		password, err := readPassword(c.stdin)
		if err != nil {
			return err
		}
		old, err := c.loadSession()
		if err != nil {
			old = nil // a damaged session is replaced
		}
		server, err := c.serverFor(old)
		if err != nil {
			return err
		}
		caFile := c.g.caFile
		if caFile == "" {
			caFile = c.env("EDGETRUST_CA_FILE")
		}
		if caFile == "" && old != nil && old.Server == server {
			caFile = old.CAFile
		}
		if caFile != "" {
			if abs, err := filepath.Abs(caFile); err == nil {
				caFile = abs
			}
		}
		hc, err := httpClient(caFile)
		if err != nil {
			return err
		}
		cl := api.New(server, hc)
		tr, err := cl.SignIn(c.ctx, api.SignInRequest{Username: username, Password: password, AccountID: c.g.account})
		if err != nil {
			var ae *api.Error
			if errors.As(err, &ae) && ae.Status == 401 {
				return fmt.Errorf("%s: check the username and password, and name the account with --account if the username exists in several", ae.Description)
			}
			return c.describe(err, server)
		}
		s := &session{
			Server: server, CAFile: caFile, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
			ExpiresAt: c.now().Add(time.Duration(tr.ExpiresIn) * time.Second), Username: username,
		}
		user := api.User{Username: username}
		if tr.User != nil {
			user = *tr.User
			s.Username, s.UserID, s.AccountID = user.Username, user.ID, user.AccountID
		}
		if err := c.saveSession(s); err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(user)
		}
		_, err = fmt.Fprintf(c.stdout, "signed in as %s (account %s)\n", user.Username, user.AccountID)
		return err
	}
}

// readPassword reads one line; the trailing newline is not part of it.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", usagef("no password on standard input: pipe it in, e.g. %s login --username admin --password-stdin < password-file", prog)
	}
	return line, nil
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

func setupEndpointsList(fs *pflag.FlagSet) func(*cli, []string) error {
	var f api.EndpointFilter
	fs.StringVar(&f.State, "state", "", "only endpoints in this state: "+strings.Join(listStates, ", "))
	fs.StringVar(&f.Type, "type", "", "only endpoints of this client type: "+strings.Join(endpointTypes, ", "))
	fs.StringVar(&f.KeyID, "key", "", "only endpoints registered with this API key id")
	fs.StringVar(&f.Text, "search", "", "only endpoints whose id, host name or description holds this text")
	fs.StringVar(&f.From, "from", "", "only endpoints registered from this CIDR (10.1.0.0/16)")
	var seenBefore, seenAfter string
	fs.StringVar(&seenBefore, "seen-before", "", "only endpoints last seen before this time: RFC 3339, or a duration back from now (720h)")
	fs.StringVar(&seenAfter, "seen-after", "", "only endpoints last seen at or after this time: RFC 3339, or a duration back from now")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		var err error
		if seenBefore != "" {
			if f.SeenBefore, err = parseWhen(c, "seen-before", seenBefore, -1); err != nil {
				return err
			}
		}
		if seenAfter != "" {
			if f.SeenAfter, err = parseWhen(c, "seen-after", seenAfter, -1); err != nil {
				return err
			}
		}
		if f.State != "" && !contains(listStates, f.State) {
			return usagef("--state %q is not a state (%s)", f.State, strings.Join(listStates, ", "))
		}
		if f.Type != "" && !contains(endpointTypes, f.Type) {
			return usagef("--type %q is not a client type (%s)", f.Type, strings.Join(endpointTypes, ", "))
		}
		f.AccountID = c.g.account
		eps, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Endpoint, error) {
			return cl.ListEndpoints(ctx, f)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(eps)
		}
		return c.table("ID\tSTATE\tTYPE\tHOSTNAME\tACCOUNT\tKEY\tLAST-SEEN", len(eps), func(i int) []string {
			e := eps[i]
			return []string{e.ID, e.State, e.Type, e.Hostname, e.AccountID, e.KeyID, timeCell(e.LastSeenAt, "-")}
		})
	}
}

func endpointAction(action, summary string) *command {
	return &command{
		path: "endpoints " + action, args: "(ID... | --all --state STATE [--key ID] [--type TYPE] [--from CIDR])",
		summary: summary,
		help: fmt.Sprintf(`Acts on each endpoint id given, or with --all on every endpoint you may act
on that matches the filter (--state is required; --account narrows it to one
account and those below it), in one request, and prints one result per
endpoint: ok, noop (approving a trusted endpoint again), conflict (the
endpoint's state does not allow it) or not_found. The exit status is 1 if
any of them failed.

Example:
  edgetrustctl endpoints %[1]s 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a 5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d -o json
  edgetrustctl endpoints %[1]s --all --state pending --key 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --from 10.1.0.0/16`, action),
		setup: func(fs *pflag.FlagSet) func(*cli, []string) error {
			var (
				all bool
				f   api.BulkFilter
			)
			fs.BoolVar(&all, "all", false, "act on every endpoint matching --state, --key, --type and --from")
			fs.StringVar(&f.State, "state", "", "with --all: endpoints in this state: "+strings.Join(listStates, ", "))
			fs.StringVar(&f.KeyID, "key", "", "with --all: only endpoints registered with this API key id")
			fs.StringVar(&f.Type, "type", "", "with --all: only endpoints of this client type")
			fs.StringVar(&f.From, "from", "", "with --all: only endpoints registered from this CIDR (10.1.0.0/16)")
			return func(c *cli, ids []string) error { return c.endpointsAct(action, ids, all, f) }
		},
	}
}

func pastTense(action string) string {
	switch action {
	case "approve":
		return "approved"
	case "reject":
		return "rejected"
	case "untrust":
		return "untrusted"
	default:
		return "deleted"
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

func (c *cli) printKeys(keys []api.Key) error {
	return c.table("ID\tNAME\tTYPE\tACCOUNT\tACTIVE\tAUTO-TRUST\tEXPIRES", len(keys), func(i int) []string {
		k := keys[i]
		return []string{k.ID, k.Name, k.Type, k.AccountID, yesNo(k.Active), yesNo(k.AutoTrust), timeCell(k.ExpiresAt, "never")}
	})
}

// printJSON prints v as indented JSON; the only thing on stdout with -o json.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns; empty cells show "-".
func (c *cli) table(header string, n int, row func(i int) []string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for i := range n {
		cells := row(i)
		for j, s := range cells {
			s = strings.Map(func(r rune) rune {
				if r == '\t' || r == '\n' || r == '\r' {
					return ' '
				}
				return r
			}, s)
			if s == "" {
				s = "-"
			}
			cells[j] = s
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func timeCell(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// call runs one API call with the saved session (refreshed when needed) and
// turns a failure into one line that says what to do.
func call[T any](c *cli, fn func(context.Context, *api.Client) (T, error)) (T, error) {
	var out T
	cn, err := c.connect()
	if err != nil {
		return out, err
	}
	err = cn.do(func(ctx context.Context, cl *api.Client) error {
		var err error
		out, err = fn(ctx, cl)
		return err
	})
	if err != nil {
		return out, c.describe(err, cn.cl.BaseURL())
	}
	return out, nil
}
