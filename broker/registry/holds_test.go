package registry_test

import (
	"testing"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
)

// Holds answers what a console shows: an Approver holds the endpoint
// permissions and none of the key ones; an administrator holds them all;
// nil holds nothing.
func TestPrincipalHolds(t *testing.T) {
	env := brokertest.New(t, brokertest.Options{})
	approver := env.NewUser(t, env.RootAccountID, "ann", registry.RoleApprover)
	admin := env.Admin(t)
	for _, tc := range []struct {
		name string
		p    *registry.Principal
		perm registry.Permission
		want bool
	}{
		{"approver modifies endpoints", approver, registry.PermModifyEndpoint, true},
		{"approver views endpoints", approver, registry.PermViewEndpoint, true},
		{"approver does not view keys", approver, registry.PermViewAPIKey, false},
		{"approver does not modify users", approver, registry.PermModifyUser, false},
		{"admin views keys", admin, registry.PermViewAPIKey, true},
		{"admin views the audit log", admin, registry.PermViewAuditLog, true},
		{"nil holds nothing", nil, registry.PermViewEndpoint, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Holds(tc.perm); got != tc.want {
				t.Errorf("Holds(%s) = %v, want %v", tc.perm, got, tc.want)
			}
		})
	}
}
