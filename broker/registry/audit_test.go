package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func TestListAudit(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	kA := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID})
	e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID})
	e.mustRegister(newDevice(t), kA.Value)
	e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "nobody-such", Password: "x", Remote: loopback}) // audited without an account

	all, err := e.reg.ListAudit(e.ctx, e.admin, registry.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(e.audits(registry.AuditFilter{}), all, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(registry.AuditEvent{}, "ActorName")); d != "" {
		t.Fatalf("the root admin sees every event (-want +got):\n%s", d)
	}
	accounts := func(evs []registry.AuditEvent) []string {
		var out []string
		for _, ev := range evs {
			if !slices.Contains(out, ev.AccountID) {
				out = append(out, ev.AccountID)
			}
		}
		slices.Sort(out)
		return out
	}
	aud := e.user(tr.custA.ID, "aud", registry.RoleAuditor)
	evs, err := e.reg.ListAudit(e.ctx, aud, registry.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{tr.custA.ID, tr.custA1.ID}
	slices.Sort(want)
	if d := cmp.Diff(want, accounts(evs)); d != "" {
		t.Fatalf("accounts of the events customer A's auditor sees (-want +got):\n%s", d)
	}
	evs, err = e.reg.ListAudit(e.ctx, aud, registry.AuditFilter{AccountIDs: []string{tr.custA1.ID}, Action: "endpoint."})
	if err != nil || len(evs) != 1 || evs[0].Action != "endpoint.register" {
		t.Fatalf("narrowed: %+v %v", evs, err)
	}
	_, err = e.reg.ListAudit(e.ctx, aud, registry.AuditFilter{AccountIDs: []string{tr.custB.ID}})
	wantKind(t, err, registry.KindNotFound)

	// Without ViewAuditLog: nothing, and naming the account is refused.
	appr := e.user(tr.custA.ID, "appr", registry.RoleApprover)
	if evs, err := e.reg.ListAudit(e.ctx, appr, registry.AuditFilter{}); err != nil || len(evs) != 0 {
		t.Fatalf("approver sees %d events, %v", len(evs), err)
	}
	_, err = e.reg.ListAudit(e.ctx, appr, registry.AuditFilter{AccountIDs: []string{tr.custA.ID}})
	wantKind(t, err, registry.KindPermission)
	nobody := e.user(tr.custA.ID, "nobody")
	if evs, err := e.reg.ListAudit(e.ctx, nobody, registry.AuditFilter{}); err != nil || len(evs) != 0 {
		t.Fatalf("a user without roles sees %d events, %v", len(evs), err)
	}
	_, err = e.reg.ListAudit(e.ctx, nil, registry.AuditFilter{})
	wantKind(t, err, registry.KindUnauthenticated)
}

// Secrets never reach the audit trail: not key values, passwords or tokens.
func TestAuditHoldsNoSecrets(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	var secrets []string
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID, AutoTrust: true})
	secrets = append(secrets, k.Value)
	v, _ := e.reg.AddKeyValue(e.ctx, e.admin, k.Key.ID, registry.AddValueRequest{Description: "two"})
	nv, _ := e.reg.RegenerateKeyValue(e.ctx, e.admin, k.Key.ID, v.ValueID, loopback)
	edge, _ := e.reg.AddEdgeDevice(e.ctx, e.admin, tr.custA.ID, "edge", "", loopback)
	secrets = append(secrets, v.Value, nv.Value, edge.Value)
	u, err := e.reg.CreateUser(e.ctx, e.admin, registry.CreateUserRequest{AccountID: tr.custA.ID, Username: "sam", Password: "sams-secret-password"})
	if err != nil {
		t.Fatal(err)
	}
	e.reg.UpdateUser(e.ctx, e.admin, u.User.ID, registry.UserUpdate{Password: ptr("sams-other-password")})
	secrets = append(secrets, "sams-secret-password", "sams-other-password")
	d := newDevice(t)
	tp := e.mustRegister(d, nv.Value).Tokens
	secrets = append(secrets, tp.AccessToken, tp.RefreshToken)
	e.reg.SignIn(e.ctx, registry.SignInRequest{Username: "sam", Password: "a-wrong-password", Remote: loopback})
	secrets = append(secrets, "a-wrong-password")
	e.register(newDevice(t), k.Value[:20]+"x") // malformed value presented

	for _, ev := range e.audits(registry.AuditFilter{}) {
		text := fmt.Sprintf("%+v", ev)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("audit event %s holds a secret", ev.Action)
			}
		}
	}
}

// failingAudit is a store whose audit writes fail, as a full disk would.
type failingAudit struct{ registry.Store }

type failingAuditTx struct{ registry.Tx }

func (failingAuditTx) AppendAudit(*registry.AuditEvent) error {
	return errors.New("audit log: disk full")
}

func (s failingAudit) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.Update(ctx, func(tx registry.Tx) error { return fn(failingAuditTx{tx}) })
}

// snapshot is everything a use case can change, except the audit trail.
type snapshot struct {
	Accounts  []registry.Account
	Users     []registry.User
	Grants    []registry.Grant
	Roles     []registry.Role
	Keys      []registry.APIKey
	Values    []registry.KeyValue
	Endpoints []registry.Endpoint
}

func (e *env) snapshot() snapshot {
	e.t.Helper()
	var s snapshot
	err := e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		if s.Accounts, err = tx.ListAccounts(); err != nil {
			return err
		}
		if s.Users, err = tx.FindUsers(registry.UserFilter{}); err != nil {
			return err
		}
		for _, u := range s.Users {
			gs, err := tx.ListGrants(u.ID)
			if err != nil {
				return err
			}
			s.Grants = append(s.Grants, gs...)
		}
		if s.Roles, err = tx.ListRoles(); err != nil {
			return err
		}
		if s.Keys, err = tx.ListAPIKeys(""); err != nil {
			return err
		}
		for _, k := range s.Keys {
			vs, err := tx.ListKeyValues(k.ID)
			if err != nil {
				return err
			}
			s.Values = append(s.Values, vs...)
		}
		s.Endpoints, err = tx.ListEndpoints(registry.EndpointFilter{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// If the audit row cannot be written, the change fails and nothing changes.
func TestChangesFailWhenTheAuditFails(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	k := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	pending, trusted := newDevice(t), newDevice(t)
	e.mustRegister(pending, k.Value)
	e.mustRegister(trusted, k.Value)
	if _, err := e.reg.Decide(e.ctx, e.admin, trusted.id, registry.ActionApprove, loopback); err != nil {
		t.Fatal(err)
	}
	victim := e.user(tr.custA.ID, "victim", registry.RoleAuditor)
	role, err := e.reg.CreateRole(e.ctx, e.admin, registry.CreateRoleRequest{AccountID: tr.custA.ID, Name: "r", Permissions: []registry.Permission{registry.PermViewUser}})
	if err != nil {
		t.Fatal(err)
	}
	edge, err := e.reg.AddEdgeDevice(e.ctx, e.admin, tr.custA.ID, "edge-1", "", loopback)
	if err != nil {
		t.Fatal(err)
	}
	broken, err := registry.New(registry.Config{Store: failingAudit{e.store}, Signer: e.signer, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute) // so a change that slipped through would show in UpdatedAt
	before := e.snapshot()
	p, ctx := e.admin, e.ctx
	for name, do := range map[string]func() error{
		"create account": func() error {
			_, err := broken.CreateAccount(ctx, p, registry.CreateAccountRequest{Name: "x"})
			return err
		},
		"update account": func() error {
			_, err := broken.UpdateAccount(ctx, p, tr.custA.ID, registry.AccountUpdate{Name: ptr("y")})
			return err
		},
		"create key": func() error {
			_, err := broken.CreateAPIKey(ctx, p, registry.CreateAPIKeyRequest{Name: "x"})
			return err
		},
		"update key": func() error {
			_, err := broken.UpdateAPIKey(ctx, p, k.Key.ID, registry.APIKeyUpdate{Active: ptr(false)})
			return err
		},
		"delete key":      func() error { return broken.DeleteAPIKey(ctx, p, k.Key.ID, loopback) },
		"revoke value":    func() error { return broken.RevokeKeyValue(ctx, p, k.Key.ID, k.ValueID, loopback) },
		"delete endpoint": func() error { return broken.DeleteEndpoint(ctx, p, pending.id, loopback) },
		"delete user":     func() error { return broken.DeleteUser(ctx, p, victim.UserID, loopback) },
		"delete role":     func() error { return broken.DeleteRole(ctx, p, role.ID, loopback) },
		"ungrant":         func() error { return broken.Ungrant(ctx, p, victim.UserID, registry.RoleAuditor, "", loopback) },
		"remove edge":     func() error { return broken.RemoveEdgeDevice(ctx, p, tr.custA.ID, edge.ValueID, loopback) },
		"approve": func() error {
			_, err := broken.Decide(ctx, p, pending.id, registry.ActionApprove, loopback)
			return err
		},
		"untrust": func() error {
			_, err := broken.Decide(ctx, p, trusted.id, registry.ActionUntrust, loopback)
			return err
		},
		"add value":        func() error { _, err := broken.AddKeyValue(ctx, p, k.Key.ID, registry.AddValueRequest{}); return err },
		"regenerate value": func() error { _, err := broken.RegenerateKeyValue(ctx, p, k.Key.ID, "", loopback); return err },
		"add edge device":  func() error { _, err := broken.AddEdgeDevice(ctx, p, tr.custA.ID, "e", "", loopback); return err },
		"grant":            func() error { _, err := broken.Grant(ctx, p, victim.UserID, "Approver", "", loopback); return err },
		"create role": func() error {
			_, err := broken.CreateRole(ctx, p, registry.CreateRoleRequest{Name: "z", Permissions: []registry.Permission{registry.PermViewUser}})
			return err
		},
		"create user": func() error {
			_, err := broken.CreateUser(ctx, p, registry.CreateUserRequest{Username: "z", Roles: []string{"Auditor"}})
			return err
		},
		"disable user": func() error {
			_, err := broken.UpdateUser(ctx, p, victim.UserID, registry.UserUpdate{Disabled: ptr(true)})
			return err
		},
		"bulk approve": func() error {
			_, err := broken.DecideMany(ctx, p, registry.BulkRequest{Action: registry.ActionApprove, IDs: []string{pending.id}})
			return err
		},
		"register": func() error {
			_, err := broken.Register(ctx, registry.RegisterRequest{APIKey: k.Value, ClientID: newDevice(t).id,
				ClientType: "printer", KeyType: registry.KeyTypeEd25519, PublicKey: newDevice(t).pub, Remote: loopback})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			wantKind(t, do(), registry.KindInternal)
			if d := cmp.Diff(before, e.snapshot(), cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Fatalf("state changed although the audit failed (-before +after):\n%s", d)
			}
		})
	}
}
