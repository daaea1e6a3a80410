package httpapi_test

import (
	"context"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
	"github.com/google/uuid"
)

func TestEdgeDeviceRoutes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acct := h.defaultAccount(t)
	cv, err := h.c.AddEdgeDevice(ctx, api.EdgeDeviceRequest{AccountID: acct, Name: "bridge-7", Description: "warehouse"})
	if err != nil {
		t.Fatalf("AddEdgeDevice: %v", err)
	}
	k, err := h.c.GetKey(ctx, cv.ID)
	if err != nil {
		t.Fatalf("GetKey of the edge key: %v", err)
	}
	if k.Type != "edge" || !k.Predefined {
		t.Errorf("edge device value on key %+v, want the predefined edge key", k.Key)
	}
	var found bool
	for _, v := range k.Values {
		if v.ID == cv.ValueID {
			found = v.EdgeDevice == "bridge-7" && !v.Revoked
		}
	}
	if !found {
		t.Errorf("values %+v lack the live edge device value %s", k.Values, cv.ValueID)
	}
	status, body := h.admin(t, "POST", "/api/v1/edge-devices", api.EdgeDeviceRequest{AccountID: acct, Name: "bridge-7"})
	wantError(t, status, body, 409, "conflict", "bridge-7")

	if err := h.c.RemoveEdgeDevice(ctx, acct, cv.ValueID); err != nil {
		t.Fatalf("RemoveEdgeDevice: %v", err)
	}
	k, _ = h.c.GetKey(ctx, cv.ID)
	for _, v := range k.Values {
		if v.ID == cv.ValueID && !v.Revoked {
			t.Errorf("edge device value %s not revoked after removal", v.ID)
		}
	}
	status, body = h.admin(t, "DELETE", "/api/v1/edge-devices/"+uuid.NewString()+"?account_id="+acct, nil)
	wantError(t, status, body, 404, "not_found", "")
	// The root is a vendor account: it has no Edge key.
	status, body = h.admin(t, "POST", "/api/v1/edge-devices", `{"name":"x"}`)
	wantError(t, status, body, 400, "invalid_request", "Edge key")
}
