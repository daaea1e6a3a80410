package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Signing in (login) and the saved session: where it lives, how it is
// refreshed, and how a call's failure becomes one line that says what to do.

// signinCommands returns the sign-in commands: login, logout, whoami.
func signinCommands() []*command {
	return []*command{
		{
			path: "login", args: "--username USER [--password-stdin] [--account ID]",
			summary: "sign in with a username and password and keep the session",
			help: `Signs in to the broker as an administrator (no API key is needed) and keeps
the session - broker URL, CA file and tokens - in $EDGETRUST_CONFIG_DIR/session.json
(mode 0600). Later commands use it and renew the access token by themselves.
On a terminal it asks for the password (not echoed); scripts pipe it on
standard input (one line) with --password-stdin. Name the account with
--account when the username exists in several accounts.

Example:
  edgetrustctl login --server https://127.0.0.1:7443 \
      --ca-file /var/lib/edgetrust-broker/tls/broker.crt --username admin
  edgetrustctl login --server https://127.0.0.1:7443 \
      --ca-file /var/lib/edgetrust-broker/tls/broker.crt \
      --username admin --password-stdin < /var/lib/edgetrust-broker/initial-admin-password`,
			setup: setupLogin,
		},
		{
			path: "logout", args: "",
			summary: "end this session on the broker and forget it here",
			help: `Ends the signed-in session on the broker (its tokens stop working at once)
and removes the saved session. A session that has expired already is only
removed here. When the broker cannot be reached, the saved session is kept:
run logout again once it can be.

Example:
  edgetrustctl logout`,
			setup: setupLogout,
		},
		{
			path: "whoami", args: "",
			summary: "show who is signed in, in which account, on which broker",
			help: `Shows the saved session: the user, their account, the broker and when the
access token expires (later commands renew it by themselves while the
session lasts). It does not contact the broker.

Example:
  edgetrustctl whoami -o json`,
			setup: setupWhoami,
		},
	}
}

func setupLogin(fs *pflag.FlagSet) func(*cli, []string) error {
	var username string
	var passwordStdin bool
	fs.StringVarP(&username, "username", "u", "", "username to sign in as (required)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input (default on a terminal: ask for it)")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if username == "" {
			return usagef("login needs --username")
		}
		var password string
		var err error
		if passwordStdin {
			password, err = readPassword(c.stdin)
		} else {
			password, err = c.askPassword(username)
		}
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
		devices := c.loadDeviceTokens()
		tr, err := cl.SignIn(c.ctx, api.SignInRequest{Username: username, Password: password, AccountID: c.g.account,
			DeviceToken: devices[deviceTokenKey(server, username)]})
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
		if tr.DeviceToken != "" {
			devices[deviceTokenKey(server, username)] = tr.DeviceToken
			if err := c.saveDeviceTokens(devices); err != nil {
				return err
			}
		}
		if c.g.output == "json" {
			return c.printJSON(user)
		}
		_, err = fmt.Fprintf(c.stdout, "signed in as %s (account %s)\n", user.Username, user.AccountID)
		return err
	}
}

func setupLogout(*pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		p, err := c.sessionPath()
		if err != nil {
			return err
		}
		s, err := c.loadSession()
		if s == nil && err == nil {
			return c.done(map[string]any{"signed_out": false}, "not signed in\n")
		}
		if err == nil {
			if err := c.endCurrentSession(); err != nil && !errors.Is(err, errSessionExpired) {
				return fmt.Errorf("%v; the saved session %s is kept: run %q again once the broker answers", oneLine(err.Error()), p, prog+" logout")
			}
		}
		// A damaged session file, or a session the broker no longer
		// knows, is only removed here.
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the saved session: %w", err)
		}
		_ = os.Remove(p + ".lock")
		if s == nil {
			return c.done(map[string]any{"signed_out": true}, "removed the damaged session %s\n", p)
		}
		return c.done(map[string]any{"signed_out": true, "server": s.Server, "username": s.Username},
			"signed out of %s (%s)\n", s.Server, orAdmin(s.Username))
	}
}

// endCurrentSession ends the signed-in session on the broker: it finds the
// session marked current and ends it. It wraps errSessionExpired when the
// session cannot be renewed (it has ended already).
func (c *cli) endCurrentSession() error {
	cn, err := c.connect()
	if err != nil {
		return err
	}
	err = cn.do(func(ctx context.Context, cl *api.Client) error {
		ss, err := cl.ListSessions(ctx, "")
		if err != nil {
			return err
		}
		for _, s := range ss {
			if s.Current {
				return cl.EndSession(ctx, s.ID)
			}
		}
		return nil // no live session carries this token: nothing to end
	})
	if api.IsStatus(err, http.StatusUnauthorized) || api.IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("%w: %v", errSessionExpired, err)
	}
	if err != nil {
		return c.describe(err, cn.cl.BaseURL())
	}
	return nil
}

// whoami is the saved session as whoami shows it.
type whoami struct {
	Server    string    `json:"server"`
	Username  string    `json:"username"`
	UserID    string    `json:"user_id"`
	AccountID string    `json:"account_id"`
	ExpiresAt time.Time `json:"expires_at"` // of the access token; renewed while the session lasts
}

func setupWhoami(*pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		s, err := c.loadSession()
		if err != nil {
			return err
		}
		if s == nil || s.RefreshToken == "" {
			return fmt.Errorf("not signed in: %s", c.loginHint(""))
		}
		w := whoami{Server: s.Server, Username: s.Username, UserID: s.UserID, AccountID: s.AccountID, ExpiresAt: s.ExpiresAt.UTC()}
		if c.g.output == "json" {
			return c.printJSON(w)
		}
		expires := "expires " + utc(w.ExpiresAt)
		if !c.now().Before(w.ExpiresAt) {
			expires = "expired " + utc(w.ExpiresAt) + " (the next command renews it)"
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		for _, row := range [][2]string{{"user", w.Username}, {"user id", w.UserID}, {"account", w.AccountID},
			{"server", w.Server}, {"access token", expires}} {
			if row[1] == "" {
				row[1] = "-"
			}
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
		}
		return tw.Flush()
	}
}

// askPassword asks for the password on the terminal without echoing it.
// Without a terminal the password must come with --password-stdin.
func (c *cli) askPassword(username string) (string, error) {
	fd, ok := terminalFd(c.stdin)
	if !ok {
		return "", usagef("login needs a terminal to ask for the password, or --password-stdin: pipe the password on standard input, never on the command line")
	}
	fmt.Fprintf(c.stderr, "Password for %s: ", username)
	b, err := readSecret(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if len(b) == 0 {
		return "", usagef("no password given")
	}
	return string(b), nil
}

// terminalFd returns r's file descriptor when r is a terminal; readSecret
// reads a line from it without echo. Both are variables for tests.
var (
	terminalFd = func(r io.Reader) (int, bool) {
		f, ok := r.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return 0, false
		}
		return int(f.Fd()), true
	}
	readSecret = term.ReadPassword
)

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

const defaultServer = "https://127.0.0.1:7443"

// session is what login keeps in $EDGETRUST_CONFIG_DIR/session.json (0600).
type session struct {
	Server       string    `json:"server"`
	CAFile       string    `json:"ca_file"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	Username     string    `json:"username"`
	UserID       string    `json:"user_id"`
	AccountID    string    `json:"account_id"`
}

// configDir is where the session lives: EDGETRUST_CONFIG_DIR, else
// $XDG_CONFIG_HOME/edgetrust, else ~/.config/edgetrust.
func (c *cli) configDir() (string, error) {
	if d := c.env("EDGETRUST_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if d := c.env("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "edgetrust"), nil
	}
	home := c.env("HOME")
	if home == "" {
		return "", errors.New("cannot find a place for the session: set EDGETRUST_CONFIG_DIR or HOME")
	}
	return filepath.Join(home, ".config", "edgetrust"), nil
}

func (c *cli) sessionPath() (string, error) {
	d, err := c.configDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "session.json"), nil
}

// errSessionExpired is wrapped by the error of a session that cannot be
// renewed any more.
var errSessionExpired = errors.New("the session has expired")

// loginHint is the command that signs in again (it asks for the password).
func (c *cli) loginHint(username string) string {
	if username == "" {
		username = "admin"
	}
	return fmt.Sprintf("run %q", prog+" login --username "+username)
}

// loadSession returns the saved session, or nil when there is none.
func (c *cli) loadSession() (*session, error) {
	p, err := c.sessionPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session: %w", err)
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("the session file %s is damaged (%v): %s", p, err, c.loginHint(""))
	}
	return &s, nil
}

// saveSession writes the session atomically: dir 0700, file 0600.
func (c *cli) saveSession(s *session) error {
	p, err := c.sessionPath()
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s for the session: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the session: %w", err)
	}
	return nil
}

// The device tokens of past sign-ins, by broker and username, are kept in
// $EDGETRUST_CONFIG_DIR/device-tokens.json (0600) and outlive logout: the
// broker limits failed sign-ins from a client that sends one only by that
// token's own failures, so a flood of wrong passwords from elsewhere never
// locks this machine out (docs/security.md).

func deviceTokenKey(server, username string) string {
	return server + " " + strings.ToLower(username)
}

func (c *cli) deviceTokensPath() (string, error) {
	d, err := c.configDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "device-tokens.json"), nil
}

// loadDeviceTokens returns the saved device tokens; a missing or damaged
// file gives none (a sign-in then counts as one from a new client).
func (c *cli) loadDeviceTokens() map[string]string {
	out := map[string]string{}
	p, err := c.deviceTokensPath()
	if err != nil {
		return out
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return out
	}
	if json.Unmarshal(b, &out) != nil {
		return map[string]string{}
	}
	return out
}

// saveDeviceTokens writes the device tokens atomically, 0600, beside the
// session (saveSession made the directory 0700).
func (c *cli) saveDeviceTokens(m map[string]string) error {
	p, err := c.deviceTokensPath()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the device token: %w", err)
	}
	return nil
}

// normalizeServer checks a broker URL: https, a host, no path beyond "/".
// "HOST:PORT" alone means https://HOST:PORT.
func normalizeServer(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", usagef("--server %q is not a URL like %s", s, defaultServer)
	}
	if u.Scheme != "https" {
		return "", usagef("--server %q must use https:// (tokens never travel in clear text)", s)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", usagef("--server %q must be only https://HOST:PORT", s)
	}
	return "https://" + u.Host, nil
}

// serverFor picks the broker URL: --server, EDGETRUST_SERVER, the saved
// session's, the default.
func (c *cli) serverFor(s *session) (string, error) {
	v := c.g.server
	if v == "" {
		v = c.env("EDGETRUST_SERVER")
	}
	if v == "" && s != nil {
		v = s.Server
	}
	if v == "" {
		v = defaultServer
	}
	return normalizeServer(v)
}

// caFileFor picks the CA file: --ca-file, EDGETRUST_CA_FILE, the session's.
func (c *cli) caFileFor(s *session) string {
	if c.g.caFile != "" {
		return c.g.caFile
	}
	if v := c.env("EDGETRUST_CA_FILE"); v != "" {
		return v
	}
	if s != nil {
		return s.CAFile
	}
	return ""
}

// httpClient trusts only caFile's certificates when it is set, else the
// system roots.
func httpClient(caFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read the CA file: %v; pass the broker's certificate (DATA_DIR/tls/broker.crt) with --ca-file", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate; pass the broker's certificate (DATA_DIR/tls/broker.crt) with --ca-file", caFile)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = http.ProxyFromEnvironment
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// conn is a client with a signed-in session that refreshes its access
// token when it expires or the broker answers 401.
type conn struct {
	c         *cli
	cl        *api.Client
	s         *session
	refreshed bool
}

// connect opens the saved session against the chosen broker.
func (c *cli) connect() (*conn, error) {
	s, err := c.loadSession()
	if err != nil {
		return nil, err
	}
	if s == nil || s.RefreshToken == "" {
		return nil, fmt.Errorf("not signed in: %s", c.loginHint(""))
	}
	server, err := c.serverFor(s)
	if err != nil {
		return nil, err
	}
	if saved, _ := normalizeServer(s.Server); saved != server {
		// Never send this session's tokens to another broker.
		return nil, fmt.Errorf("signed in to %s, not %s: %s", s.Server, server,
			fmt.Sprintf("run %q", prog+" login --server "+server+" --username "+orAdmin(s.Username)))
	}
	hc, err := httpClient(c.caFileFor(s))
	if err != nil {
		return nil, err
	}
	cn := &conn{c: c, cl: api.New(server, hc), s: s}
	cn.cl.SetToken(s.AccessToken)
	if s.AccessToken == "" || !c.now().Before(s.ExpiresAt.Add(-30*time.Second)) {
		if err := cn.refresh(); err != nil {
			return nil, err
		}
	}
	return cn, nil
}

func orAdmin(u string) string {
	if u == "" {
		return "admin"
	}
	return u
}

// refresh rotates the tokens and saves them. Refresh tokens are single-use
// and a reused one revokes its whole chain (SPEC T2), so commands running
// at once refresh one at a time, under a lock, and a command that waited
// takes the tokens the other one saved instead of spending the old one.
func (cn *conn) refresh() error {
	p, err := cn.c.sessionPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("creating %s for the session: %w", filepath.Dir(p), err)
	}
	unlock, err := lockFile(p + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if cur, err := cn.c.loadSession(); err == nil && cur != nil && cur.Server == cn.s.Server && cur.RefreshToken != cn.s.RefreshToken {
		cn.s = cur
		if cur.AccessToken != "" && cn.c.now().Before(cur.ExpiresAt.Add(-30*time.Second)) {
			cn.refreshed = true
			cn.cl.SetToken(cur.AccessToken)
			return nil
		}
	}
	tr, err := cn.cl.Refresh(cn.c.ctx, cn.s.RefreshToken)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 {
			return fmt.Errorf("%w: %s", errSessionExpired, cn.c.loginHint(cn.s.Username))
		}
		return cn.c.describe(err, cn.cl.BaseURL())
	}
	cn.refreshed = true
	cn.s.AccessToken, cn.s.RefreshToken = tr.AccessToken, tr.RefreshToken
	cn.s.ExpiresAt = cn.c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	cn.cl.SetToken(tr.AccessToken)
	return cn.c.saveSession(cn.s)
}

// do runs fn, refreshing the access token once if the broker answers 401.
// Errors are returned as is (api errors as *api.Error) for the caller to
// describe.
func (cn *conn) do(fn func(ctx context.Context, cl *api.Client) error) error {
	err := fn(cn.c.ctx, cn.cl)
	if !api.IsStatus(err, http.StatusUnauthorized) || cn.refreshed {
		return err
	}
	if rerr := cn.refresh(); rerr != nil {
		return rerr
	}
	return fn(cn.c.ctx, cn.cl)
}

// describe turns an error of a call into one line that says what to do.
func (c *cli) describe(err error, server string) error {
	var ae *api.Error
	var ue *url.Error
	var uae x509.UnknownAuthorityError
	var cve *tls.CertificateVerificationError
	var hne x509.HostnameError
	switch {
	case errors.As(err, &ae):
		desc := ae.Description
		if desc == "" {
			desc = ae.Code
		}
		switch ae.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("not signed in or the session has expired (%s): %s", desc, c.loginHint(""))
		case http.StatusForbidden:
			return fmt.Errorf("%s: ask an administrator of the account for the permission", desc)
		case http.StatusNotFound:
			return fmt.Errorf("%s: check the ids you gave (see %q, %q)", desc, prog+" accounts list", prog+" endpoints list")
		case http.StatusTooManyRequests:
			return fmt.Errorf("%s", desc)
		default:
			if ae.Status >= 500 {
				return fmt.Errorf("the broker failed (%s, HTTP %d): try again, and see the broker's log if it persists", desc, ae.Status)
			}
			return fmt.Errorf("%s (%s)", desc, ae.Code)
		}
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	case errors.As(err, &hne):
		return fmt.Errorf("the broker's certificate at %s does not name this host (%v): use a --server name the certificate holds (127.0.0.1, localhost or the broker's host name)", server, hne)
	case errors.As(err, &uae), errors.As(err, &cve):
		return fmt.Errorf("cannot verify the broker's certificate at %s: pass it with --ca-file DATA_DIR/tls/broker.crt (or EDGETRUST_CA_FILE)", server)
	case errors.As(err, &ue):
		return fmt.Errorf("cannot reach the broker at %s (%v): check --server (or EDGETRUST_SERVER) and that the broker is running", server, ue.Err)
	default:
		return err
	}
}
