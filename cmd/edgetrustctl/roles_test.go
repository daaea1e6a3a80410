package main

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestRolesUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"users grant without role", []string{"users", "grant", "u1"}, 2, "", "--role"},
		{"roles create without permission", []string{"roles", "create", "--name", "r"}, 2, "", "--permission"},
		{"roles create bad permission", []string{"roles", "create", "--name", "r", "--permission", "Fly"}, 2, "", `"Fly"`},
	})
}

// walkRoles creates, lists and deletes a custom role in Shop.
func walkRoles(t *testing.T, w *walk) {
	t.Run("roles", func(t *testing.T) {
		role := decodeJSON[api.Role](t, w.mustRun(t, "", "--account", w.cust.ID, "roles", "create", "--name", "Key viewer",
			"--permission", "ViewApiKey", "-o", "json").stdout)
		if role.AccountID != w.cust.ID || !slices.Equal(role.Permissions, []string{"ViewApiKey"}) {
			t.Errorf("role %+v", role)
		}
		roles := decodeJSON[[]api.Role](t, w.mustRun(t, "", "roles", "list", "--account", w.cust.ID, "-o", "json").stdout)
		var names []string
		for _, r := range roles {
			names = append(names, r.Name)
		}
		if diff := cmp.Diff([]string{"Administrator", "Approver", "Auditor", "Key viewer"}, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
		w.mustRun(t, "", "roles", "delete", role.ID)
	})
}
