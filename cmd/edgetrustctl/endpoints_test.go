package main

import (
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// walkEndpoints registers two printers (w.e1, w.e2) with the manual key in Acme and lists them.
func walkEndpoints(t *testing.T, w *walk) {
	w.manual = decodeJSON[api.CreatedKey](t, w.mustRun(t, "", "keys", "create", "--account", w.acmeID, "--name", "manual", "-o", "json").stdout)
	w.e1 = w.b.register(t, w.manual.Value, "p1")
	w.e2 = w.b.register(t, w.manual.Value, "p2")
	t.Run("endpoints list by address and last seen", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want int
		}{
			{[]string{"--from", "10.9.0.0/16", "--seen-after", "1h"}, 2},
			{[]string{"--from", "192.168.0.0/16"}, 0},
			{[]string{"--seen-before", "1h"}, 0},
		} {
			eps := decodeJSON[[]api.Endpoint](t, w.mustRun(t, "", append([]string{"endpoints", "list", "-o", "json"}, tc.args...)...).stdout)
			if len(eps) != tc.want {
				t.Errorf("endpoints list %v: %d endpoints, want %d", tc.args, len(eps), tc.want)
			}
		}
	})
}
