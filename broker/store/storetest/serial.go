package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/registry"
	jwt "github.com/edgetrust/edgetrust/broker/token"
)

// Concurrent Updates behave as if serialised (registry.Store.Update).
//
// The registry's read-then-write rules rest on it, so these checks run the
// registry's own use cases over the store under test, many at once, and
// compare the outcome with what some serial order of them would give. A
// store that runs Updates side by side with only each statement atomic
// (PostgreSQL at READ COMMITTED without a lock) fails them; the store's
// package shows this with a store built to do so (see Interleaver).

// ErrNotSerialised marks a check that saw concurrent Updates end in a state
// no serial order of them gives.
var ErrNotSerialised = errors.New("concurrent Updates did not behave as if serialised")

// Interleaver is implemented only by stores built to show that the checks
// catch a store that does not serialise Updates. Before the checks start n
// Updates at once, they call Interleave(n): such a store then holds each of
// the next n Updates at its first write until all n have got there (or
// ended), so every one reads before any writes. A real store does not
// implement it.
type Interleaver interface{ Interleave(n int) }

// QuotaRaceUpdates is how many registrations CheckQuotaRace starts at
// once; QuotaRaceLimit is the account's endpoint quota.
const (
	QuotaRaceUpdates = 32
	QuotaRaceLimit   = 10
)

// DecideRaceTrials is how many endpoints CheckDecideRace races decisions on.
const DecideRaceTrials = 20

func testQuotaRace(t *testing.T, s registry.Store) {
	if err := CheckQuotaRace(t.Context(), s); err != nil {
		t.Error(err)
	}
}

func testDecideRace(t *testing.T, s registry.Store) {
	if err := CheckDecideRace(t.Context(), s); err != nil {
		t.Error(err)
	}
}

// serialEnv is a registry over the store under test, bootstrapped, with
// the admin signed in, a customer account and a key that registers
// endpoints pending there.
type serialEnv struct {
	reg   *registry.Registry
	clock *serialClock
	admin *registry.Principal
	acct  *registry.Account
	key   string
}

const serialAdminPassword = "storetest-admin-password"

var serialRemote = netip.MustParseAddr("192.0.2.7")

// serialClock is the registry's clock: fixed until advanced.
type serialClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *serialClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *serialClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newSerialEnv(ctx context.Context, s registry.Store, settings registry.AccountSettings) (*serialEnv, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	clk := &serialClock{t: t0}
	iss, err := jwt.New(jwt.Config{Key: key, Now: clk.Now})
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(registry.Config{Store: s, Signer: iss, Clock: clk})
	if err != nil {
		return nil, err
	}
	if _, err := reg.Bootstrap(ctx, serialAdminPassword); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	res, err := reg.SignIn(ctx, registry.SignInRequest{Username: registry.AdminUsername, Password: serialAdminPassword, Remote: serialRemote})
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	tp := res.Tokens
	admin, err := reg.Authenticate(ctx, tp.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	acct, err := reg.CreateAccount(ctx, admin, registry.CreateAccountRequest{
		Name: "serial", Type: registry.AccountCustomer, Settings: settings, Remote: serialRemote})
	if err != nil {
		return nil, fmt.Errorf("creating account: %w", err)
	}
	k, err := reg.CreateAPIKey(ctx, admin, registry.CreateAPIKeyRequest{AccountID: acct.ID, Name: "manual approval"})
	if err != nil {
		return nil, fmt.Errorf("creating key: %w", err)
	}
	return &serialEnv{reg: reg, clock: clk, admin: admin, acct: acct, key: k.Value}, nil
}

// interleave tells a store built to test the suite that n Updates start.
func interleave(s registry.Store, n int) {
	if i, ok := s.(Interleaver); ok {
		i.Interleave(n)
	}
}

// together runs fns at once, each on its own goroutine, and waits for them.
func together(fns ...func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() {
			<-start
			fn()
		})
	}
	close(start)
	wg.Wait()
}

// CheckQuotaRace starts QuotaRaceUpdates registrations of distinct
// endpoints at once against an account whose endpoint quota is
// QuotaRaceLimit (the registry counts, then creates, in one Update).
// Exactly QuotaRaceLimit must be admitted and every other refused with
// KindQuota. It returns an error wrapping ErrNotSerialised when more were
// admitted, and another error when the check could not run or a
// registration failed otherwise.
func CheckQuotaRace(ctx context.Context, s registry.Store) error {
	e, err := newSerialEnv(ctx, s, registry.AccountSettings{EndpointQuota: QuotaRaceLimit})
	if err != nil {
		return fmt.Errorf("quota race: %w", err)
	}
	var (
		mu                sync.Mutex
		admitted, refused int
		other             []error
	)
	fns := make([]func(), QuotaRaceUpdates)
	for i := range fns {
		fns[i] = func() {
			_, err := e.reg.Register(ctx, registry.RegisterRequest{
				APIKey: e.key, ClientID: uuid.NewString(), ClientType: "desktop_client",
				Hostname: fmt.Sprintf("quota-%d", i), Remote: serialRemote,
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case registry.KindOf(err) == registry.KindQuota:
				refused++
			default:
				other = append(other, err)
			}
		}
	}
	interleave(s, QuotaRaceUpdates)
	together(fns...)

	var n int
	if err := s.View(ctx, func(tx registry.Tx) error {
		n, err = tx.CountEndpoints(e.acct.ID)
		return err
	}); err != nil {
		return fmt.Errorf("quota race: counting endpoints: %w", err)
	}
	switch {
	case admitted > QuotaRaceLimit || n > QuotaRaceLimit:
		return fmt.Errorf("%w: %d registrations against a quota of %d admitted %d (the account holds %d endpoints)",
			ErrNotSerialised, QuotaRaceUpdates, QuotaRaceLimit, admitted, n)
	case len(other) > 0:
		return fmt.Errorf("quota race: registrations failed: %w", errors.Join(other...))
	case admitted != QuotaRaceLimit || refused != QuotaRaceUpdates-QuotaRaceLimit || n != QuotaRaceLimit:
		return fmt.Errorf("quota race: %d admitted, %d refused, %d endpoints; want %d, %d, %d",
			admitted, refused, n, QuotaRaceLimit, QuotaRaceUpdates-QuotaRaceLimit, QuotaRaceLimit)
	}
	return nil
}

// CheckDecideRace runs DecideRaceTrials trials. Each registers an endpoint
// over the HTTP device flow (pending, with a device code), then starts at
// once an approval, a rejection and an exchange of the device code for
// tokens, and afterwards exchanges the code once more.
//
// The two serial orders of the decisions give: approve then reject, the
// reject answers KindConflict; reject then approve, both succeed (an admin
// may approve a rejected endpoint), and the approval is recorded as taken
// from the rejected state. Either way the endpoint ends trusted, and the
// device code yields one set of device tokens: at most one per successful
// approval, and one refresh chain in the store for each set handed out.
//
// It returns an error wrapping ErrNotSerialised when the outcome matches no
// serial order (both decisions applied from the pending state, say), and
// another error when the check could not run or a call failed otherwise.
func CheckDecideRace(ctx context.Context, s registry.Store) error {
	e, err := newSerialEnv(ctx, s, registry.AccountSettings{})
	if err != nil {
		return fmt.Errorf("decide race: %w", err)
	}
	for trial := range DecideRaceTrials {
		if err := e.decideTrial(ctx, s); err != nil {
			return fmt.Errorf("decide race, trial %d: %w", trial, err)
		}
	}
	return nil
}

// decideTrial races approve, reject and a device-code exchange on one fresh
// pending endpoint and checks that the result is one a serial order of them
// would give. It is long because the checks of every serial order read best
// beside the race.
func (e *serialEnv) decideTrial(ctx context.Context, s registry.Store) error {
	id := uuid.NewString()
	da, err := e.reg.RegisterDevice(ctx, registry.DeviceRegisterRequest{RegisterRequest: registry.RegisterRequest{
		APIKey: e.key, ClientID: id, ClientType: "desktop_client", Remote: serialRemote}})
	if err != nil {
		return fmt.Errorf("registering: %w", err)
	}
	if da.Endpoint.State != registry.StatePending {
		return fmt.Errorf("registered endpoint is %s, want pending", da.Endpoint.State)
	}
	exchange := func() (*registry.TokenPair, error) {
		return e.reg.DeviceToken(ctx, registry.DeviceTokenRequest{
			APIKey: e.key, ClientID: id, DeviceCode: da.DeviceCode, Remote: serialRemote})
	}
	var (
		approved, rejected *registry.Endpoint
		approveErr         error
		rejectErr          error
		raced              *registry.TokenPair
		racedErr           error
	)
	interleave(s, 3)
	together(
		func() { approved, approveErr = e.reg.Decide(ctx, e.admin, id, registry.ActionApprove, serialRemote) },
		func() { rejected, rejectErr = e.reg.Decide(ctx, e.admin, id, registry.ActionReject, serialRemote) },
		func() { raced, racedErr = exchange() },
	)
	if approveErr != nil && registry.KindOf(approveErr) != registry.KindConflict {
		return fmt.Errorf("approving: %w", approveErr)
	}
	if rejectErr != nil && registry.KindOf(rejectErr) != registry.KindConflict {
		return fmt.Errorf("rejecting: %w", rejectErr)
	}
	switch registry.KindOf(racedErr) {
	case registry.KindPending, registry.KindAccessDenied: // before the approval
	default:
		if racedErr != nil {
			return fmt.Errorf("exchanging the device code during the decisions: %w", racedErr)
		}
	}

	// The decisions as recorded, in the order they committed.
	var decided []string
	var state registry.State
	var chains int
	if err := s.View(ctx, func(tx registry.Tx) error {
		evs, err := tx.ListAudit(registry.AuditFilter{Target: "endpoint:" + id, Action: "endpoint."})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Action == "endpoint.approve" || ev.Action == "endpoint.reject" {
				decided = append(decided, fmt.Sprintf("%s from %s", ev.Action, ev.Detail["from"]))
			}
		}
		ep, err := tx.GetEndpoint(id)
		if err != nil {
			return err
		}
		state = ep.State
		return nil
	}); err != nil {
		return fmt.Errorf("reading the outcome: %w", err)
	}
	approveFirst := []string{"endpoint.approve from pending"}
	rejectFirst := []string{"endpoint.reject from pending", "endpoint.approve from rejected"}
	switch {
	case approveErr == nil && rejectErr != nil && slices.Equal(decided, approveFirst):
	case approveErr == nil && rejectErr == nil && slices.Equal(decided, rejectFirst):
	default:
		return fmt.Errorf("%w: approve answered %v (endpoint %v), reject answered %v (endpoint %v), and the log records %q; "+
			"a serial order gives approve then a conflicting reject, or reject then approve from rejected",
			ErrNotSerialised, approveErr, stateOf(approved), rejectErr, stateOf(rejected), decided)
	}
	if state != registry.StateTrusted || approved.State != registry.StateTrusted {
		return fmt.Errorf("%w: the endpoint ended %s, and the approval answered %s; want trusted",
			ErrNotSerialised, state, approved.State)
	}

	// The code yields its tokens once the endpoint is trusted, once.
	e.clock.advance(time.Minute) // past the polling interval
	final, finalErr := exchange()
	issued := 0
	for _, tp := range []*registry.TokenPair{raced, final} {
		if tp != nil {
			issued++
		}
	}
	if raced == nil && finalErr != nil {
		return fmt.Errorf("exchanging the device code of a trusted endpoint: %w", finalErr)
	}
	if raced != nil && registry.KindOf(finalErr) != registry.KindInvalidGrant {
		return fmt.Errorf("exchanging a used device code again answered %v, want KindInvalidGrant", finalErr)
	}
	if err := s.View(ctx, func(tx registry.Tx) error {
		cs, err := tx.ListRefreshChains(registry.SubjectEndpoint, id, e.clock.Now())
		chains = len(cs)
		return err
	}); err != nil {
		return fmt.Errorf("listing refresh chains: %w", err)
	}
	approvals := 1 // both serial orders hold exactly one successful approval
	if issued > approvals || chains != issued {
		return fmt.Errorf("%w: %d device token sets handed out and %d refresh chains stored for %d approval",
			ErrNotSerialised, issued, chains, approvals)
	}
	return nil
}

func stateOf(ep *registry.Endpoint) string {
	if ep == nil {
		return "none"
	}
	return string(ep.State)
}
