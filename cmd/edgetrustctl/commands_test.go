package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// usageCase is a command line that fails before reaching a broker, or asks
// for help.
type usageCase struct {
	name       string
	args       []string
	wantCode   int
	wantStdout string // substring; "" = stdout must be empty
	wantStderr string // substring; "" = stderr must be empty
}

// runUsageCases runs each case without a session; a usage error must be
// one line.
func runUsageCases(t *testing.T, tests []usageCase) {
	t.Helper()
	env := map[string]string{"EDGETRUST_CONFIG_DIR": t.TempDir()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, env, "", tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tc.wantCode, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.wantStdout) || (tc.wantStdout == "" && r.stdout != "") {
				t.Errorf("stdout %q, want %q", r.stdout, tc.wantStdout)
			}
			if !strings.Contains(r.stderr, tc.wantStderr) || (tc.wantStderr == "" && r.stderr != "") {
				t.Errorf("stderr %q, want %q", r.stderr, tc.wantStderr)
			}
			if tc.wantCode == 2 && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
		})
	}
}

// TestFlagKinds keeps every flag name one kind across commands: resolve
// skips flag values using the union of every command's flags, so a name
// that takes a value in one command and not in another would swallow the
// next word.
func TestFlagKinds(t *testing.T) {
	kinds := map[string]string{}
	for _, c := range commands() {
		fs := pflag.NewFlagSet(c.path, pflag.ContinueOnError)
		c.setup(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			kind := "value"
			if f.NoOptDefVal != "" {
				kind = "bool"
			}
			if k, ok := kinds[f.Name]; ok && k != kind {
				t.Errorf("flag --%s is a %s flag in %q and a %s flag elsewhere", f.Name, kind, c.path, k)
			}
			kinds[f.Name] = kind
		})
	}
}

// walk is what the steps of TestCommandsAgainstBroker share: one broker, an
// administrator signed in to it, and what earlier steps created.
type walk struct {
	b       *broker
	env     map[string]string
	rootID  string         // the administrator's account
	acmeID  string         // a vendor account below it (walkAccounts)
	cust    api.Account    // Shop, a customer below Acme (walkAccounts)
	key     api.CreatedKey // the fleet key in Shop (walkKeysCreate)
	exp     time.Time      // the expiry of its second value (walkKeyValues)
	addedID string         // its second value (walkKeyValues)
	manual  api.CreatedKey // a key in Acme without auto-trust (walkEndpoints)
	e1, e2  string         // two printers registered with it (walkEndpoints)
}

// mustRun runs the command line and fails the test unless it succeeds.
func (w *walk) mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := runCLI(t, w.env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r
}

// TestCommandsAgainstBroker drives the commands of every resource against
// one broker. Each step is in its resource's test file (walkKeysCreate in
// keys_test.go, ...); they run in this order because later steps use what
// earlier ones made, and walkAudit checks the events of all of them.
func TestCommandsAgainstBroker(t *testing.T) {
	b := newBroker(t)
	cfg := filepath.Join(t.TempDir(), "cfg")
	w := &walk{b: b, env: map[string]string{"EDGETRUST_CONFIG_DIR": cfg, "EDGETRUST_SERVER": b.srv.URL, "EDGETRUST_CA_FILE": b.caFile}}
	login := w.mustRun(t, adminPassword+"\n", "login", "--username", "admin", "--password-stdin", "-o", "json")
	w.rootID = decodeJSON[api.User](t, login.stdout).AccountID

	walkAccounts(t, w)
	walkUsers(t, w)
	walkRoles(t, w)
	walkKeysCreate(t, w)
	walkKeyValues(t, w)
	walkKeysUpdate(t, w)
	walkRevokeValue(t, w)
	walkEndpoints(t, w)
	walkEndpointRecords(t, w)
	walkBulk(t, w)
	walkEdgeDevices(t, w)
	walkWebhooks(t, w)
	walkKeysDelete(t, w)
	walkAudit(t, w)
}
