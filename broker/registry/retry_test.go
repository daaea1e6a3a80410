package registry_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/broker/token"
)

// retryingStore runs the fn of every Update twice, as a store may after a
// serialisation failure (registry.Store.Update): first in a transaction it
// rolls back, then in a new one. between, when set, runs once between the
// two runs, as another broker's Update committed meanwhile.
type retryingStore struct {
	registry.Store
	between func()
}

var errAbandoned = errors.New("retryingStore: abandoned as after a serialisation failure")

func (s *retryingStore) Update(ctx context.Context, fn func(registry.Tx) error) error {
	err := s.Store.Update(ctx, func(tx registry.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errAbandoned
	})
	if !errors.Is(err, errAbandoned) {
		return err // fn's own error: a store does not run fn again
	}
	if b := s.between; b != nil {
		s.between = nil
		b()
	}
	return s.Store.Update(ctx, fn)
}

// newRetried returns a registry over a retryingStore and one over the same
// store without it (another broker).
func newRetried(t *testing.T) (retried, other *registry.Registry, rs *retryingStore) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "edgetrust.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := token.New(token.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rs = &retryingStore{Store: st}
	if retried, err = registry.New(registry.Config{Store: rs, Signer: iss}); err != nil {
		t.Fatal(err)
	}
	if other, err = registry.New(registry.Config{Store: st, Signer: iss}); err != nil {
		t.Fatal(err)
	}
	return retried, other, rs
}

// A Bootstrap whose first run is abandoned, and which finds the store
// bootstrapped by another broker when it runs again, did not create it.
func TestBootstrapRunAgainAfterAnotherBroker(t *testing.T) {
	retried, other, rs := newRetried(t)
	var first *registry.BootstrapResult
	rs.between = func() {
		var err error
		if first, err = other.Bootstrap(t.Context(), adminPW); err != nil {
			t.Errorf("the other broker's Bootstrap: %v", err)
		}
	}
	got, err := retried.Bootstrap(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if first == nil {
		t.Fatal("the other broker did not bootstrap")
	}
	want := &registry.BootstrapResult{RootAccountID: first.RootAccountID}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Bootstrap mismatch (-want +got):\n%s", d)
	}
}

// Use cases whose Update fn is run twice answer as if it ran once: no
// result, event or count of the abandoned run survives.
func TestUpdatesRunTwice(t *testing.T) {
	retried, _, _ := newRetried(t)
	ctx := t.Context()
	res, err := retried.Bootstrap(ctx, adminPW)
	if err != nil || !res.Created {
		t.Fatalf("Bootstrap = %+v, %v", res, err)
	}
	tp, err := signInTokens(retried.SignIn(ctx, registry.SignInRequest{Username: registry.AdminUsername, Password: adminPW, Remote: loopback}))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := retried.Authenticate(ctx, tp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := retried.CreateAccount(ctx, admin, registry.CreateAccountRequest{Name: "retried", Type: registry.AccountCustomer, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	k, err := retried.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{AccountID: acct.ID, Name: "manual"})
	if err != nil {
		t.Fatal(err)
	}

	var events []registry.Event
	stop := retried.Bus().SubscribeFunc("", func(ev registry.Event) { events = append(events, ev) })
	defer stop()
	var ids []string
	for range 3 {
		id := uuid.NewString()
		reg, err := retried.Register(ctx, registry.RegisterRequest{APIKey: k.Value, ClientID: id, ClientType: "desktop_client", Remote: loopback})
		if err != nil {
			t.Fatal(err)
		}
		if !reg.Created || reg.Endpoint.State != registry.StatePending {
			t.Errorf("Register = created %v, state %s; want a new pending endpoint", reg.Created, reg.Endpoint.State)
		}
		ids = append(ids, id)
	}
	results, err := retried.DecideMany(ctx, admin, registry.BulkRequest{Action: registry.ActionApprove, IDs: ids, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.ID+" "+string(r.Outcome))
	}
	var want []string
	for _, id := range ids {
		want = append(want, id+" "+string(registry.BulkOK))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("DecideMany results mismatch (-want +got):\n%s", d)
	}
	got = nil
	for _, ev := range events {
		got = append(got, ev.EndpointID+" "+ev.Type)
	}
	want = nil
	for _, id := range ids {
		want = append(want, id+" endpoint.pending")
	}
	for _, id := range ids {
		want = append(want, id+" endpoint.trusted")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events mismatch (-want +got):\n%s", d)
	}
}
