package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/console"
	"github.com/edgetrust/edgetrust/broker/registry"
)

// flakyStore fails every transaction while down is set, as a database
// that went away does.
type flakyStore struct {
	registry.Store
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (s *flakyStore) Update(ctx context.Context, fn func(registry.Tx) error) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Update(ctx, fn)
}

func (s *flakyStore) View(ctx context.Context, fn func(registry.Tx) error) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.View(ctx, fn)
}

// A database outage is no verdict on a console session: pages answer 503
// while the store cannot be read, and the same session works again when it
// can (before, every console user was signed out by an outage).
func TestStoreOutageKeepsTheSession(t *testing.T) {
	env := brokertest.New(t, brokertest.Options{})
	st := &flakyStore{Store: env.Store}
	reg, err := registry.New(registry.Config{Store: st, Signer: env.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Config{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(con.Handler())
	defer srv.Close()
	c := srv.Client()
	c.Jar = newJar()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	signInHTTP(t, srv.URL, registry.AdminUsername, brokertest.AdminPassword, c)
	status := func() int {
		resp, _ := get(t, c, srv.URL+"/queue")
		return resp.StatusCode
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("the queue before the outage: %d", got)
	}
	st.down.Store(true)
	if got := status(); got != http.StatusServiceUnavailable {
		t.Errorf("the queue during the outage: %d, want 503", got)
	}
	st.down.Store(false)
	if got := status(); got != http.StatusOK {
		t.Errorf("the queue after the outage: %d, want 200 with the same session", got)
	}
}
