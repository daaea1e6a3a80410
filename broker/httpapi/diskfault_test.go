package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"go.uber.org/zap/zaptest"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/httpapi"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// fullDisk is a store whose audit inserts fail, as on a full disk, while
// full is set: the narrow fault of TestAuditFailsClosed.
type fullDisk struct {
	registry.Store
	full atomic.Bool
}

func (s *fullDisk) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.Update(ctx, func(tx registry.Tx) error { return fn(fullDiskTx{tx, s}) })
}

type fullDiskTx struct {
	registry.Tx
	s *fullDisk
}

func (t fullDiskTx) AppendAudit(e *registry.AuditEvent) error {
	if t.s.full.Load() {
		return fmt.Errorf("appending audit event: %w: database or disk is full (13, fake)", registry.ErrUnwritable)
	}
	return t.Tx.AppendAudit(e)
}

// TestAuditFailsClosed (issue 15, point 9): while the audit log cannot be
// written (a full or read-only disk), no change is made — a change whose
// audit row cannot be written is not made — and every caller, signed in or
// not, gets a clean 503 that shows no internals; reads go on; once the
// disk has room, the same changes succeed.
func TestAuditFailsClosed(t *testing.T) {
	disk := &fullDisk{}
	env := brokertest.New(t, brokertest.Options{WrapStore: func(s registry.Store) registry.Store { disk.Store = s; return disk }})
	a, err := httpapi.New(httpapi.Config{Registry: env.Registry, JWKS: env.Issuer.JWKS(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(a.Handler())
	t.Cleanup(srv.Close)
	adm := api.New(srv.URL, srv.Client())
	tr, err := adm.SignIn(context.Background(), api.SignInRequest{Username: "admin", Password: brokertest.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	adm.SetToken(tr.AccessToken)
	ctx := context.Background()
	manual, err := adm.CreateKey(ctx, api.CreateKeyRequest{Name: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	res, err := env.Registry.Register(ctx, registry.RegisterRequest{APIKey: manual.Value, ClientID: uuid.NewString(),
		ClientType: "printer", KeyType: registry.KeyTypeEd25519, PublicKey: pub, Proven: true, Remote: netip.MustParseAddr("127.0.0.1")})
	if err != nil || res.Endpoint.State != registry.StatePending {
		t.Fatalf("register: %+v %v", res, err)
	}
	id := res.Endpoint.ID

	disk.full.Store(true)
	newDevice := newEd25519Device(t, false)
	h := &oauthHarness{srv: srv, env: env, admin: adm}
	oauthRegister := func() (int, string) {
		a := h.signed(t, newDevice, api.PathOAuthRegister, newDevice.registerBody(manual.Value))
		return a.status, string(a.body)
	}
	changes := []struct {
		name string
		do   func() error
	}{
		{"approve", func() error { _, err := adm.ApproveEndpoint(ctx, id); return err }},
		{"create key", func() error { _, err := adm.CreateKey(ctx, api.CreateKeyRequest{Name: "while full"}); return err }},
		{"delete endpoint", func() error { return adm.DeleteEndpoint(ctx, id) }},
	}
	for _, c := range changes {
		t.Run("full: "+c.name, func(t *testing.T) {
			err := c.do()
			if !api.IsStatus(err, http.StatusServiceUnavailable) {
				t.Fatalf("%s on a full disk: %v, want 503", c.name, err)
			}
			ae := err.(*api.Error)
			if ae.Code != api.CodeUnavailable || ae.Description != "the broker cannot save changes now; try again shortly" {
				t.Errorf("answer %q %q, want unavailable and the client-safe message", ae.Code, ae.Description)
			}
		})
	}
	t.Run("full: an unauthenticated registration", func(t *testing.T) {
		status, body := oauthRegister()
		if status != http.StatusServiceUnavailable || !strings.Contains(body, api.CodeTemporarilyUnavailable) {
			t.Errorf("OAuth register on a full disk: %d %s, want 503 %s", status, body, api.CodeTemporarilyUnavailable)
		}
		for _, leak := range []string{"audit", "disk", "13", "fake"} {
			if strings.Contains(body, leak) {
				t.Errorf("answer shows internals (%q): %s", leak, body)
			}
		}
	})
	// Nothing changed, and reads are served.
	ep, err := adm.GetEndpoint(ctx, id)
	if err != nil || ep.State != "pending" {
		t.Fatalf("endpoint while full: %+v %v, want pending", ep, err)
	}
	keys, err := adm.ListKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "while full" {
			t.Errorf("a key was created while its audit row could not be written")
		}
	}
	if _, err := adm.GetEndpoint(ctx, newDevice.id); !api.IsStatus(err, http.StatusNotFound) {
		t.Errorf("the device registered while full: %v, want 404", err)
	}

	// Room again: the same changes succeed.
	disk.full.Store(false)
	if ep, err := adm.ApproveEndpoint(ctx, id); err != nil || ep.State != "trusted" {
		t.Fatalf("approve after the disk has room: %+v %v", ep, err)
	}
	if _, err := adm.CreateKey(ctx, api.CreateKeyRequest{Name: "while full"}); err != nil {
		t.Fatalf("create key after the disk has room: %v", err)
	}
	if status, body := oauthRegister(); status != http.StatusOK {
		t.Fatalf("OAuth register after the disk has room: %d %s", status, body)
	}
}
