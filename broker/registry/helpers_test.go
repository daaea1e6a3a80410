package registry_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// account creates an account below parent as the admin.
func (e *env) account(parent, name string, typ registry.AccountType) *registry.Account {
	e.t.Helper()
	a, err := e.reg.CreateAccount(e.ctx, e.admin, registry.CreateAccountRequest{ParentID: parent, Name: name, Type: typ, Remote: loopback})
	if err != nil {
		e.t.Fatalf("creating account %s: %v", name, err)
	}
	return a
}

// tree is vendor -> {custA -> custA1, custB} under the root.
type tree struct {
	vendor, custA, custA1, custB *registry.Account
}

func (e *env) tree() tree {
	e.t.Helper()
	var tr tree
	tr.vendor = e.account(e.root, "vendor", registry.AccountVendor)
	tr.custA = e.account(tr.vendor.ID, "customer A", registry.AccountCustomer)
	tr.custA1 = e.account(tr.custA.ID, "customer A1", registry.AccountCustomer)
	tr.custB = e.account(tr.vendor.ID, "customer B", registry.AccountCustomer)
	return tr
}

// user creates a user of account holding roles there and signs it in.
func (e *env) user(account, name string, roles ...string) *registry.Principal {
	e.t.Helper()
	return e.re.NewUser(e.t, account, name, roles...)
}

// registerAt registers d with key, naming the target account.
func (e *env) registerAt(d device, key, account string) (*registry.RegisterResult, error) {
	return e.reg.Register(e.ctx, registry.RegisterRequest{
		APIKey: key, AccountID: account, ClientID: d.id, ClientType: "desktop_client", Hostname: "host-" + d.id[:8],
		KeyType: registry.KeyTypeEd25519, PublicKey: d.pub, Proven: true, Remote: loopback,
	})
}

func (e *env) endpoint(id string) *registry.Endpoint {
	e.t.Helper()
	var ep *registry.Endpoint
	e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		ep, err = tx.GetEndpoint(id)
		if err != nil {
			ep = nil
		}
		return nil
	})
	return ep
}

func (e *env) audits(f registry.AuditFilter) []registry.AuditEvent {
	e.t.Helper()
	var evs []registry.AuditEvent
	if err := e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		evs, err = tx.ListAudit(f)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// lastAudit returns the newest audit event with this action.
func (e *env) lastAudit(action string) registry.AuditEvent {
	e.t.Helper()
	evs := e.audits(registry.AuditFilter{Action: action})
	if len(evs) == 0 {
		e.t.Fatalf("no audit event %s", action)
	}
	return evs[len(evs)-1]
}

// wantKindMsg is wantKind that also wants msg in the public message.
func wantKindMsg(t *testing.T, err error, k registry.Kind, msg string) {
	t.Helper()
	wantKind(t, err, k)
	if !strings.Contains(registry.PublicMessage(err), msg) {
		t.Fatalf("message %q does not contain %q", registry.PublicMessage(err), msg)
	}
}

func ptr[T any](v T) *T { return &v }

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// signInTokens is registry.SignIn's tokens, for tests that need only them.
func signInTokens(res *registry.SignInResult, err error) (*registry.TokenPair, error) {
	if err != nil {
		return nil, err
	}
	return res.Tokens, nil
}
