package registry

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Observer is told what the registry and the transports around it do, for
// metrics (issue 16): broker/metrics implements it over Prometheus, so
// that the domain imports no metrics library. Every label value it is
// given comes from a fixed set (an outcome, a Kind's name, an action, a
// login type, a refusal reason of keycheck.go, a limiter's kind), never a
// caller's input nor an id: a metric gets no series per customer or
// endpoint. Methods are called on hot paths and must not block.
//
// Config.Observer nil means NopObserver.
type Observer interface {
	// Registration: a registration ended with outcome, one of
	// RegisterOutcomes or a Kind's name.
	Registration(outcome string)
	// Decision: an admin action (approve, reject, untrust, delete) on one
	// endpoint ended with outcome: "success", "noop", "conflict",
	// "not_found", "forbidden", or a Kind's name.
	Decision(action, outcome string)
	// Login: a device login of loginType (protocol.LoginTypes) ended with
	// outcome: "success" or a Kind's name.
	Login(loginType, outcome string)
	// KeyRefused: an API key was refused (SPEC K8) for reason, the
	// internal reason of keycheck.go.
	KeyRefused(reason string)
	// RateLimited: a request was refused by a rate limiter of kind (one of
	// the RateLimit* constants; docs/metrics.md lists them).
	RateLimited(kind string)
	// StoreTx: one store transaction (op "update" or "view") took d.
	StoreTx(op string, d time.Duration)
	// AgentConnected: an agent proved its key on a QUIC connection
	// (delta +1), or that connection ended (delta -1).
	AgentConnected(delta int)
	// Pushed: a decision reached a connected agent, latency after it was
	// made.
	Pushed(latency time.Duration)
}

// Outcomes of a registration that succeeded (Observer.Registration).
const (
	RegisterTrusted      = "trusted"      // a new endpoint, trusted at once
	RegisterPending      = "pending"      // a new endpoint, waiting for an admin
	RegisterKeyChange    = "key_change"   // a known endpoint with another key: a pending key change
	RegisterReregistered = "reregistered" // a known endpoint with its key
)

// Kinds of rate limiter (Observer.RateLimited). Limiters added later name
// their own kind here and in docs/metrics.md.
const (
	RateLimitSignIn = "signin" // admin sign-in, and device password logins: per (user, address), per address, per user (S3b)
	RateLimitKey    = "key"    // failed API key presentations, per address and per public id (issue 15)
)

// NopObserver observes nothing.
type NopObserver struct{}

func (NopObserver) Registration(string)           {}
func (NopObserver) Decision(string, string)       {}
func (NopObserver) Login(string, string)          {}
func (NopObserver) KeyRefused(string)             {}
func (NopObserver) RateLimited(string)            {}
func (NopObserver) StoreTx(string, time.Duration) {}
func (NopObserver) AgentConnected(int)            {}
func (NopObserver) Pushed(time.Duration)          {}

var _ Observer = NopObserver{}

// Observer returns the registry's observer (never nil): the transports
// report what they do (agents connected, pushes) to the same one.
func (r *Registry) Observer() Observer { return r.obs }

// outcome is "success" for a nil error and the error's Kind otherwise.
func outcome(err error) string {
	if err == nil {
		return "success"
	}
	return KindOf(err).String()
}

// registerOutcome is the outcome of a registration that returned res, err.
func registerOutcome(res *RegisterResult, err error) string {
	switch {
	case err != nil:
		return KindOf(err).String()
	case res.KeyChange:
		return RegisterKeyChange
	case !res.Created:
		return RegisterReregistered
	case res.Endpoint.State == StateTrusted:
		return RegisterTrusted
	default:
		return RegisterPending
	}
}

// decisionOutcome is the Decision outcome of a failed Decide: the words
// of DecideMany's results where there are some.
func decisionOutcome(err error) string {
	switch KindOf(err) {
	case KindConflict:
		return BulkConflict
	case KindNotFound:
		return BulkNotFound
	case KindPermission:
		return BulkForbidden
	}
	return KindOf(err).String()
}

// bulkOutcomes maps a BulkResult's outcome to a Decision outcome.
var bulkOutcomes = map[string]string{
	BulkOK: "success", BulkNoop: "noop", BulkConflict: "conflict", BulkNotFound: "not_found", BulkForbidden: "forbidden",
}

// observedStore times the transactions of a store (Observer.StoreTx).
type observedStore struct {
	Store
	obs Observer
}

func (s observedStore) Update(ctx context.Context, fn func(Tx) error) error {
	start := time.Now()
	err := s.Store.Update(ctx, fn)
	s.obs.StoreTx("update", time.Since(start))
	return err
}

func (s observedStore) View(ctx context.Context, fn func(Tx) error) error {
	start := time.Now()
	err := s.Store.View(ctx, fn)
	s.obs.StoreTx("view", time.Since(start))
	return err
}

// PendingGroup is the number of pending endpoints under one top-level
// account (PendingCounts).
type PendingGroup struct {
	AccountID, AccountName string
	Pending                int
}

// maxPendingGroups bounds the groups PendingCounts returns: past it, the
// smallest vendors' counts are folded into the root's group.
const maxPendingGroups = 50

// PendingCounts counts the pending endpoints (registrations waiting for an
// admin) under each top-level account: the root account, and each vendor
// account directly below it. A customer account's endpoints count under
// its top vendor, or under the root when no vendor is above it, so that a
// metric labelled with the groups never has a series per customer. It is
// for metrics scraped by the operator: it checks no permission. Groups
// come root first, then by count (largest first) and name; every top vendor
// is named, pending or not.
func (r *Registry) PendingCounts(ctx context.Context) ([]PendingGroup, error) {
	var accts []Account
	var counts map[string]int
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		if accts, err = tx.ListAccounts(); err != nil {
			return err
		}
		counts, err = tx.CountEndpointsByAccount(StatePending)
		return err
	})
	if err != nil {
		return nil, internal("counting pending endpoints", err)
	}
	byID := make(map[string]*Account, len(accts))
	for i := range accts {
		byID[accts[i].ID] = &accts[i]
	}
	// top returns the group of an account: the vendor directly below the
	// root above it, or the root. Depth is bounded against a broken tree.
	top := func(a *Account) *Account {
		chain := []*Account{a}
		for i := 0; i < 64 && a.ParentID != "" && byID[a.ParentID] != nil; i++ {
			a = byID[a.ParentID]
			chain = append(chain, a)
		}
		root := chain[len(chain)-1]
		if len(chain) >= 2 && chain[len(chain)-2].Type == AccountVendor {
			return chain[len(chain)-2]
		}
		return root
	}
	groups := map[*Account]int{}
	var root *Account
	for i := range accts {
		a := &accts[i]
		g := top(a)
		if g == a && a.ParentID == "" && root == nil {
			root = a
		}
		groups[g] += counts[a.ID]
	}
	out := make([]PendingGroup, 0, len(groups))
	for a, n := range groups {
		out = append(out, PendingGroup{AccountID: a.ID, AccountName: a.Name, Pending: n})
	}
	slices.SortFunc(out, func(a, b PendingGroup) int {
		if root != nil && (a.AccountID == root.ID) != (b.AccountID == root.ID) {
			if a.AccountID == root.ID {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.Pending, a.Pending), strings.Compare(a.AccountName, b.AccountName), strings.Compare(a.AccountID, b.AccountID))
	})
	if len(out) > maxPendingGroups && root != nil && out[0].AccountID == root.ID {
		for _, g := range out[maxPendingGroups:] {
			out[0].Pending += g.Pending
		}
		out = out[:maxPendingGroups]
	}
	return out, nil
}
