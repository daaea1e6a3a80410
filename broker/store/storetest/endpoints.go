package storetest

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// fullEndpoint has every field set.
func fullEndpoint(id string) registry.Endpoint {
	return registry.Endpoint{
		ID: id, AccountID: acctA, State: registry.StateTrusted, Type: "windows", Description: "Build box",
		Hostname: "build-01", OS: "Windows 11", Version: "1.2.3", KeyType: "OKP",
		PublicKey: []byte{0, 1, 2, 3, 0xff}, KeyThumbprint: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
		KeyID: "key-1", KeyValueID: "kv-1", RegisteredAt: at(0), RegisteredFrom: "192.0.2.10",
		ApprovedBy: "user:u1", ApprovedAt: at(time.Minute), LastDecision: "untrust",
		LastDecisionBy: "user:u2", LastDecisionAt: at(2 * time.Minute), LastSeenAt: at(time.Hour),
		LastSeenFrom: "192.0.2.11", DeviceCodeHash: []byte("device-code-hash"),
		DeviceCodeExpiresAt: at(10 * time.Minute), UpdatedAt: at(time.Hour),
		CloneSuspectedAt: at(3 * time.Minute),
	}
}

func getEndpoint(t *testing.T, s registry.Store, id string) *registry.Endpoint {
	t.Helper()
	var e *registry.Endpoint
	view(t, s, func(tx registry.Tx) error {
		var err error
		e, err = tx.GetEndpoint(id)
		return err
	})
	return e
}

func testEndpoints(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	full := fullEndpoint("ep-full")
	// Zero times stay zero; nil byte slices stay empty.
	pending := registry.Endpoint{
		ID: "ep-pending", AccountID: acctB, State: registry.StatePending, RegisteredAt: at(0),
		RegisteredFrom: "2001:db8::1",
	}
	update(t, s, func(tx registry.Tx) error {
		for _, e := range []registry.Endpoint{full, pending} {
			if err := tx.CreateEndpoint(&e); err != nil {
				return err
			}
		}
		return nil
	})

	t.Run("round trip", func(t *testing.T) {
		for _, want := range []registry.Endpoint{full, pending} {
			if d := diff(&want, getEndpoint(t, s, want.ID)); d != "" {
				t.Errorf("GetEndpoint(%q) mismatch (-want +got):\n%s", want.ID, d)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			fn   func(tx registry.Tx) error
			want error
		}{
			{"create duplicate", func(tx registry.Tx) error {
				e := fullEndpoint("ep-full")
				e.AccountID = acctB
				return tx.CreateEndpoint(&e)
			}, registry.ErrConflict},
			{"create in missing account", func(tx registry.Tx) error {
				e := fullEndpoint("ep-new")
				e.AccountID = "nope"
				return tx.CreateEndpoint(&e)
			}, registry.ErrNotFound},
			{"get missing", func(tx registry.Tx) error { _, err := tx.GetEndpoint("nope"); return err }, registry.ErrNotFound},
			{"update missing", func(tx registry.Tx) error {
				e := fullEndpoint("nope")
				return tx.UpdateEndpoint(&e)
			}, registry.ErrNotFound},
			{"touch missing", func(tx registry.Tx) error { return tx.TouchEndpoint("nope", at(0), "192.0.2.1") }, registry.ErrNotFound},
			{"mark missing", func(tx registry.Tx) error { return tx.SetEndpointCloneSuspected("nope", at(0)) }, registry.ErrNotFound},
			{"delete missing", func(tx registry.Tx) error { return tx.DeleteEndpoint("nope") }, registry.ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, tc.name, s.Update(t.Context(), tc.fn), tc.want)
			})
		}
	})

	t.Run("update replaces every field", func(t *testing.T) {
		want := registry.Endpoint{
			ID: "ep-full", AccountID: acctB, State: registry.StateUntrusted, Type: "linux",
			RegisteredAt: at(time.Second), RegisteredFrom: "198.51.100.1", UpdatedAt: at(2 * time.Hour),
		}
		update(t, s, func(tx registry.Tx) error { return tx.UpdateEndpoint(&want) })
		if d := diff(&want, getEndpoint(t, s, want.ID)); d != "" {
			t.Errorf("after UpdateEndpoint (-want +got):\n%s", d)
		}
		want = fullEndpoint("ep-full")
		update(t, s, func(tx registry.Tx) error { return tx.UpdateEndpoint(&want) })
		if d := diff(&want, getEndpoint(t, s, want.ID)); d != "" {
			t.Errorf("after second UpdateEndpoint (-want +got):\n%s", d)
		}
	})

	t.Run("touch", func(t *testing.T) {
		want := pending
		want.LastSeenAt, want.LastSeenFrom = at(3*time.Hour), "2001:db8::2"
		update(t, s, func(tx registry.Tx) error {
			return tx.TouchEndpoint(want.ID, want.LastSeenAt, want.LastSeenFrom)
		})
		if d := diff(&want, getEndpoint(t, s, want.ID)); d != "" {
			t.Errorf("after TouchEndpoint (-want +got):\n%s", d)
		}
	})

	t.Run("clone mark", func(t *testing.T) {
		// SPEC R24: set and cleared alone, UpdatedAt included.
		want := *getEndpoint(t, s, "ep-pending")
		for _, mark := range []time.Time{at(4 * time.Hour), {}} {
			want.CloneSuspectedAt = mark
			update(t, s, func(tx registry.Tx) error { return tx.SetEndpointCloneSuspected(want.ID, mark) })
			if d := diff(&want, getEndpoint(t, s, want.ID)); d != "" {
				t.Errorf("after SetEndpointCloneSuspected(%v) (-want +got):\n%s", mark, d)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		update(t, s, func(tx registry.Tx) error { return tx.DeleteEndpoint("ep-pending") })
		view(t, s, func(tx registry.Tx) error {
			_, err := tx.GetEndpoint("ep-pending")
			wantErr(t, "GetEndpoint after delete", err, registry.ErrNotFound)
			_, err = tx.GetEndpoint("ep-full")
			wantErr(t, "GetEndpoint of another", err, nil)
			return nil
		})
		// The id can be registered again.
		update(t, s, func(tx registry.Tx) error { return tx.CreateEndpoint(&pending) })
	})
}

func testTransitionEndpoint(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	var (
		pending   = registry.StatePending
		trusted   = registry.StateTrusted
		rejected  = registry.StateRejected
		untrusted = registry.StateUntrusted
	)
	tests := []struct {
		name  string
		state registry.State
		from  []registry.State
		to    registry.State
		want  error
	}{
		{"approve pending", pending, []registry.State{pending}, trusted, nil},
		{"reject pending", pending, []registry.State{pending}, rejected, nil},
		{"one of several", untrusted, []registry.State{pending, untrusted}, trusted, nil},
		{"untrust trusted", trusted, []registry.State{trusted}, untrusted, nil},
		{"approve trusted", trusted, []registry.State{pending, untrusted}, trusted, registry.ErrConflict},
		{"approve rejected", rejected, []registry.State{pending}, trusted, registry.ErrConflict},
		{"no from states", pending, nil, trusted, registry.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := registry.Endpoint{
				ID: "ep-" + tc.name, AccountID: acctA, State: tc.state, RegisteredAt: at(0),
				ApprovedBy: "user:before", ApprovedAt: at(time.Second), LastDecision: "approve",
				LastDecisionBy: "user:before", LastDecisionAt: at(time.Second), UpdatedAt: at(time.Second),
			}
			update(t, s, func(tx registry.Tx) error { return tx.CreateEndpoint(&e) })
			when := at(time.Hour)
			d := registry.Decision{Action: "decide-" + string(tc.to), By: "user:approver", At: when}
			err := s.Update(t.Context(), func(tx registry.Tx) error {
				return tx.TransitionEndpoint(e.ID, tc.from, tc.to, d)
			})
			wantErr(t, "TransitionEndpoint", err, tc.want)
			want := e
			if tc.want == nil {
				want.State, want.LastDecision, want.LastDecisionBy, want.LastDecisionAt, want.UpdatedAt = tc.to, d.Action, d.By, when, when
				// Only a transition to trusted is an approval (issue 12).
				if tc.to == trusted {
					want.ApprovedBy, want.ApprovedAt = d.By, when
				}
			}
			if d := diff(&want, getEndpoint(t, s, e.ID)); d != "" {
				t.Errorf("after TransitionEndpoint (-want +got):\n%s", d)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx registry.Tx) error {
			return tx.TransitionEndpoint("nope", []registry.State{pending}, trusted, registry.Decision{Action: "approve", By: "user:approver", At: at(0)})
		})
		wantErr(t, "TransitionEndpoint missing", err, registry.ErrNotFound)
	})
}

func testListEndpoints(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	endpoints := []registry.Endpoint{
		{ID: "ep-1", AccountID: acctA, State: registry.StatePending, Type: "windows", KeyID: "key-1",
			Hostname: "Alpha-PC", Description: "Reception desk", RegisteredAt: at(1 * time.Hour), RegisteredFrom: "10.1.2.3",
			LastSeenAt: at(10 * time.Hour)},
		{ID: "ep-2", AccountID: acctA, State: registry.StateTrusted, Type: "linux", KeyID: "key-1",
			Hostname: "beta", Description: "Build server", RegisteredAt: at(2 * time.Hour), RegisteredFrom: "10.200.0.1",
			LastSeenAt: at(6 * time.Hour)},
		{ID: "ep-3", AccountID: acctB, State: registry.StateTrusted, Type: "windows", KeyID: "key-2",
			Hostname: "gamma", Description: "", RegisteredAt: at(3 * time.Hour), RegisteredFrom: "2001:db8::5"},
		// Same RegisteredAt as ep-3: ordered by ID.
		{ID: "ep-0-BUILD", AccountID: acctB, State: registry.StateRejected, Type: "macos",
			Hostname: "delta", RegisteredAt: at(3 * time.Hour), RegisteredFrom: "192.0.2.1", LastSeenAt: at(4 * time.Hour)},
		{ID: "ep-5", AccountID: acctRoot, State: registry.StateUntrusted, Type: "linux", KeyID: "key-2",
			Hostname: "epsilon", Description: "Lab", RegisteredAt: at(5 * time.Hour), RegisteredFrom: "::ffff:10.9.9.9"},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range endpoints {
			if err := tx.CreateEndpoint(&endpoints[i]); err != nil {
				return err
			}
		}
		return nil
	})
	// Last seen: ep-1 10h, ep-2 6h, ep-0-BUILD 4h; ep-3 (registered 3h) and
	// ep-5 (registered 5h) never, which counts as last seen at registration.
	all := []string{"ep-1", "ep-2", "ep-0-BUILD", "ep-3", "ep-5"}
	tests := []struct {
		name   string
		filter registry.EndpointFilter
		want   []string
	}{
		{"everything", registry.EndpointFilter{}, all},
		{"accounts", registry.EndpointFilter{AccountIDs: []string{acctB, acctRoot}}, []string{"ep-0-BUILD", "ep-3", "ep-5"}},
		{"empty non-nil accounts match nothing", registry.EndpointFilter{AccountIDs: []string{}}, nil},
		{"ids", registry.EndpointFilter{IDs: []string{"ep-5", "ep-1", "nope"}}, []string{"ep-1", "ep-5"}},
		{"empty non-nil ids match nothing", registry.EndpointFilter{IDs: []string{}}, nil},
		{"state", registry.EndpointFilter{State: registry.StateTrusted}, []string{"ep-2", "ep-3"}},
		{"type", registry.EndpointFilter{Type: "linux"}, []string{"ep-2", "ep-5"}},
		{"key", registry.EndpointFilter{KeyID: "key-2"}, []string{"ep-3", "ep-5"}},
		{"from v4 prefix (and mapped v4)", registry.EndpointFilter{From: netip.MustParsePrefix("10.0.0.0/8")}, []string{"ep-1", "ep-2", "ep-5"}},
		{"from narrow prefix", registry.EndpointFilter{From: netip.MustParsePrefix("10.1.0.0/16")}, []string{"ep-1"}},
		{"from v6 prefix", registry.EndpointFilter{From: netip.MustParsePrefix("2001:db8::/32")}, []string{"ep-3"}},
		{"registered before (exclusive)", registry.EndpointFilter{RegisteredBefore: at(3 * time.Hour)}, []string{"ep-1", "ep-2"}},
		{"registered after (exclusive)", registry.EndpointFilter{RegisteredAfter: at(3 * time.Hour)}, []string{"ep-5"}},
		{"registered between", registry.EndpointFilter{RegisteredAfter: at(time.Hour), RegisteredBefore: at(5 * time.Hour)}, []string{"ep-2", "ep-0-BUILD", "ep-3"}},
		{"seen before (exclusive)", registry.EndpointFilter{SeenBefore: at(5 * time.Hour)}, []string{"ep-0-BUILD", "ep-3"}},
		{"seen after (exclusive)", registry.EndpointFilter{SeenAfter: at(5 * time.Hour)}, []string{"ep-1", "ep-2"}},
		{"seen between", registry.EndpointFilter{SeenAfter: at(4 * time.Hour), SeenBefore: at(10 * time.Hour)}, []string{"ep-2", "ep-5"}},
		{"never seen counts as seen at registration", registry.EndpointFilter{SeenBefore: at(3 * time.Hour).Add(1)}, []string{"ep-3"}},
		{"seen and registered", registry.EndpointFilter{RegisteredBefore: at(3 * time.Hour), SeenAfter: at(7 * time.Hour)}, []string{"ep-1"}},
		{"stale and pending", registry.EndpointFilter{SeenBefore: at(7 * time.Hour), State: registry.StateTrusted}, []string{"ep-2", "ep-3"}},
		{"text in hostname, any case", registry.EndpointFilter{Text: "ALPHA"}, []string{"ep-1"}},
		{"text in id, description", registry.EndpointFilter{Text: "build"}, []string{"ep-2", "ep-0-BUILD"}},
		{"text substring", registry.EndpointFilter{Text: "ta"}, []string{"ep-2", "ep-0-BUILD"}},
		{"text is literal", registry.EndpointFilter{Text: "%"}, nil},
		{"limit", registry.EndpointFilter{Limit: 2}, []string{"ep-1", "ep-2"}},
		{"limit counts filtered rows", registry.EndpointFilter{From: netip.MustParsePrefix("10.0.0.0/8"), Limit: 2}, []string{"ep-1", "ep-2"}},
		{"limit after text", registry.EndpointFilter{Text: "build", Limit: 1}, []string{"ep-2"}},
		{"after a cursor", registry.EndpointFilter{After: "ep-2"}, []string{"ep-0-BUILD", "ep-3", "ep-5"}},
		{"after a cursor sharing its registered at", registry.EndpointFilter{After: "ep-0-BUILD", Limit: 1}, []string{"ep-3"}},
		{"after the last", registry.EndpointFilter{After: "ep-5"}, nil},
		{"after a cursor the filter excludes", registry.EndpointFilter{After: "ep-2", State: registry.StateTrusted}, []string{"ep-3"}},
		{"after a cursor, text and limit", registry.EndpointFilter{After: "ep-1", Text: "build", Limit: 1}, []string{"ep-2"}},
		{"combined", registry.EndpointFilter{
			AccountIDs: []string{acctA, acctB}, State: registry.StateTrusted, Type: "windows",
			KeyID: "key-2", From: netip.MustParsePrefix("2001:db8::/64"), Text: "GAM",
			RegisteredAfter: at(0), RegisteredBefore: at(4 * time.Hour), Limit: 10,
		}, []string{"ep-3"}},
		{"no match", registry.EndpointFilter{State: registry.StatePending, Type: "linux"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			view(t, s, func(tx registry.Tx) error {
				got, err := tx.ListEndpoints(tc.filter)
				if err != nil {
					t.Fatalf("ListEndpoints: %v", err)
				}
				var ids []string
				for _, e := range got {
					ids = append(ids, e.ID)
				}
				if d := diff(tc.want, ids); d != "" {
					t.Errorf("ListEndpoints(%+v) mismatch (-want +got):\n%s", tc.filter, d)
				}
				return nil
			})
		})
	}
	t.Run("unknown cursor", func(t *testing.T) {
		view(t, s, func(tx registry.Tx) error {
			_, err := tx.ListEndpoints(registry.EndpointFilter{After: "nope"})
			wantErr(t, "ListEndpoints after an unknown id", err, registry.ErrNotFound)
			return nil
		})
	})
	t.Run("pages", func(t *testing.T) {
		var got []string
		after := ""
		for range len(all) + 1 {
			var page []registry.Endpoint
			view(t, s, func(tx registry.Tx) error {
				var err error
				page, err = tx.ListEndpoints(registry.EndpointFilter{After: after, Limit: 2})
				if err != nil {
					t.Fatalf("ListEndpoints: %v", err)
				}
				return nil
			})
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				got = append(got, e.ID)
			}
			after = page[len(page)-1].ID
		}
		if d := diff(all, got); d != "" {
			t.Errorf("pages of 2 (-want +got):\n%s", d)
		}
	})
	t.Run("whole records", func(t *testing.T) {
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.ListEndpoints(registry.EndpointFilter{IDs: []string{"ep-1", "ep-2"}})
			if err != nil {
				t.Fatalf("ListEndpoints: %v", err)
			}
			if d := diff(endpoints[:2], got); d != "" {
				t.Errorf("ListEndpoints mismatch (-want +got):\n%s", d)
			}
			return nil
		})
	})
}

func testCountEndpoints(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	update(t, s, func(tx registry.Tx) error {
		for i, acct := range []string{acctA, acctA, acctA, acctB} {
			e := registry.Endpoint{
				ID: fmt.Sprintf("ep-%d", i), AccountID: acct, State: registry.StatePending, RegisteredAt: at(0),
			}
			if err := tx.CreateEndpoint(&e); err != nil {
				return err
			}
		}
		// Every state counts; deleted endpoints do not.
		if err := tx.TransitionEndpoint("ep-1", []registry.State{registry.StatePending}, registry.StateRejected, registry.Decision{Action: "reject", By: "user:u1", At: at(0)}); err != nil {
			return err
		}
		return tx.DeleteEndpoint("ep-2")
	})
	// Counts are per account, not per subtree.
	for account, want := range map[string]int{acctA: 2, acctB: 1, acctRoot: 0, "nope": 0} {
		view(t, s, func(tx registry.Tx) error {
			got, err := tx.CountEndpoints(account)
			if err != nil {
				t.Fatalf("CountEndpoints(%q): %v", account, err)
			}
			if got != want {
				t.Errorf("CountEndpoints(%q) = %d, want %d", account, got, want)
			}
			return nil
		})
	}
}

func testCountEndpointsByAccount(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	count := func() map[registry.State]map[string]int {
		out := map[registry.State]map[string]int{}
		view(t, s, func(tx registry.Tx) error {
			for _, st := range []registry.State{registry.StatePending, registry.StateTrusted, registry.StateRejected} {
				got, err := tx.CountEndpointsByAccount(st)
				if err != nil {
					t.Fatalf("CountEndpointsByAccount(%q): %v", st, err)
				}
				out[st] = got
			}
			return nil
		})
		return out
	}
	empty := map[registry.State]map[string]int{registry.StatePending: {}, registry.StateTrusted: {}, registry.StateRejected: {}}
	if d := diff(empty, count()); d != "" {
		t.Errorf("no endpoints (-want +got):\n%s", d)
	}
	update(t, s, func(tx registry.Tx) error {
		for i, acct := range []string{acctA, acctA, acctA, acctB, acctB} {
			e := registry.Endpoint{
				ID: fmt.Sprintf("ep-%d", i), AccountID: acct, State: registry.StatePending, RegisteredAt: at(0),
			}
			if err := tx.CreateEndpoint(&e); err != nil {
				return err
			}
		}
		if err := tx.TransitionEndpoint("ep-1", []registry.State{registry.StatePending}, registry.StateRejected, registry.Decision{Action: "reject", By: "user:u1", At: at(0)}); err != nil {
			return err
		}
		if err := tx.TransitionEndpoint("ep-3", []registry.State{registry.StatePending}, registry.StateTrusted, registry.Decision{Action: "approve", By: "user:u1", At: at(0)}); err != nil {
			return err
		}
		return tx.DeleteEndpoint("ep-2") // deleted endpoints are not counted
	})
	want := map[registry.State]map[string]int{
		registry.StatePending:  {acctA: 1, acctB: 1},
		registry.StateTrusted:  {acctB: 1},
		registry.StateRejected: {acctA: 1},
	}
	if d := diff(want, count()); d != "" {
		t.Errorf("CountEndpointsByAccount (-want +got):\n%s", d)
	}
}
