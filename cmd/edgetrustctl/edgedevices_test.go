package main

import (
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestEdgeDevicesUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"edge add without name", []string{"edge", "add"}, 2, "", "--name"},
		{"help edge", []string{"edge", "--help"}, 0, "edge remove", ""},
	})
}

// walkEdgeDevices adds an edge device to Shop and removes it.
func walkEdgeDevices(t *testing.T, w *walk) {
	t.Run("edge add and remove", func(t *testing.T) {
		cv := decodeJSON[api.CreatedValue](t, w.mustRun(t, "", "edge", "add", "--account", w.cust.ID, "--name", "bridge", "-o", "json").stdout)
		if cv.ValueID == "" || !strings.HasPrefix(cv.Value, "etk_") {
			t.Fatalf("edge add %+v", cv)
		}
		w.mustRun(t, "", "edge", "remove", cv.ValueID, "--account", w.cust.ID)
		k := decodeJSON[api.KeyDetail](t, w.mustRun(t, "", "keys", "show", cv.ID, "-o", "json").stdout)
		for _, v := range k.Values {
			if v.ID == cv.ValueID && (!v.Revoked || v.EdgeDevice != "bridge") {
				t.Errorf("edge value after removal %+v", v)
			}
		}
	})
}
