package registry_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// cloneEnv is an endpoint trusted at once, with the first refresh token of
// its chain, on a broker with a fake clock.
type cloneEnv struct {
	*env
	d     device
	key   string
	first string // the first refresh token
}

func newCloneEnv(t *testing.T, lockOut bool) *cloneEnv {
	e := newEnv(t)
	if lockOut {
		a, err := e.reg.GetAccount(e.ctx, e.admin, e.root)
		if err != nil {
			t.Fatal(err)
		}
		s := a.Settings
		s.LockOutClones = true
		if _, err := e.reg.UpdateAccount(e.ctx, e.admin, e.root, registry.AccountUpdate{Settings: &s}); err != nil {
			t.Fatal(err)
		}
	}
	k := e.key(registry.CreateAPIKeyRequest{AutoTrust: true})
	d := newDevice(t)
	return &cloneEnv{env: e, d: d, key: k.Value, first: e.mustRegister(d, k.Value).Tokens.RefreshToken}
}

// refresh refreshes rt as the holder of the endpoint's key, a minute after
// the previous step, and returns the successor ("" and the error on a
// refusal).
func (c *cloneEnv) refresh(rt string) (string, error) {
	c.clk.Advance(time.Minute)
	tp, err := c.reg.Refresh(c.ctx, rt, c.d.jkt, loopback)
	if err != nil {
		return "", err
	}
	return tp.RefreshToken, nil
}

func (c *cloneEnv) mustRefresh(rt string) string {
	c.t.Helper()
	next, err := c.refresh(rt)
	if err != nil {
		c.t.Fatalf("refresh: %v", err)
	}
	return next
}

// TestCloneDetection is SPEC R24: two successors of one refresh token both
// used mark the endpoint; a lost answer's retry, a stale reuse and a token
// the store does not know never do.
func TestCloneDetection(t *testing.T) {
	type result struct {
		Marked   bool
		State    registry.State
		Suspects int // endpoint.clone_suspected rows
		Retries  int // token.retry rows
		Reuses   int // token.reuse rows
	}
	tests := []struct {
		name string
		// run plays the holders of the endpoint's identity; it reports
		// whether the last refresh of each copy was refused.
		run  func(c *cloneEnv) (refusedA, refusedB bool)
		want result
		// wantRefused: the last refreshes of copy A and copy B refused.
		wantRefused [2]bool
	}{
		{
			name: "copies fork from one token and both use their successors",
			run: func(c *cloneEnv) (bool, bool) {
				a1 := c.mustRefresh(c.first) // copy A
				b1 := c.mustRefresh(c.first) // copy B: looks like a lost answer, served
				a2 := c.mustRefresh(a1)      // A moves on: B's successor is unused yet
				b2 := c.mustRefresh(b1)      // B uses its successor: two holders
				_, errA := c.refresh(a2)     // both carry on: a mark, not a lock-out
				_, errB := c.refresh(b2)
				return errA != nil, errB != nil
			},
			want: result{Marked: true, State: registry.StateTrusted, Suspects: 1, Retries: 1},
		},
		{
			name: "copy B uses its successor first",
			run: func(c *cloneEnv) (bool, bool) {
				a1 := c.mustRefresh(c.first)
				b1 := c.mustRefresh(c.first)
				c.mustRefresh(b1)
				_, errA := c.refresh(a1) // A's successor used second: suspected here
				return errA != nil, false
			},
			want: result{Marked: true, State: registry.StateTrusted, Suspects: 1, Retries: 1},
		},
		{
			name: "lost answer: the previous token retried, its first successor never used",
			run: func(c *cloneEnv) (bool, bool) {
				c.mustRefresh(c.first)       // the answer carrying this successor is lost
				t1 := c.mustRefresh(c.first) // the agent retries with the token it had
				t2 := c.mustRefresh(t1)      // and goes on
				c.mustRefresh(c.mustRefresh(t2))
				return false, false
			},
			want: result{State: registry.StateTrusted, Retries: 1},
		},
		{
			name: "lost answers in a row, then on",
			run: func(c *cloneEnv) (bool, bool) {
				var t1 string
				for range 3 {
					t1 = c.mustRefresh(c.first)
				}
				c.mustRefresh(c.mustRefresh(t1))
				return false, false
			},
			want: result{State: registry.StateTrusted, Retries: 2},
		},
		{
			name: "a token the store does not know (a restored backup)",
			run: func(c *cloneEnv) (bool, bool) {
				t1 := c.mustRefresh(c.first)
				_, errB := c.refresh("etr_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
				_, errA := c.refresh(t1)
				return errA != nil, errB != nil
			},
			want:        result{State: registry.StateTrusted},
			wantRefused: [2]bool{false, true},
		},
		{
			name: "a spent token presented without the endpoint's key is a reuse, never a retry",
			run: func(c *cloneEnv) (bool, bool) {
				t1 := c.mustRefresh(c.first)
				c.clk.Advance(time.Minute)
				_, errB := c.reg.Refresh(c.ctx, c.first, "", loopback) // a copy of the token only
				_, errA := c.refresh(t1)
				return errA != nil, errB != nil
			},
			want:        result{State: registry.StateTrusted, Reuses: 1},
			wantRefused: [2]bool{true, true},
		},
		{
			name: "a stale token whose successor was used is a reuse (T2), not a clone",
			run: func(c *cloneEnv) (bool, bool) {
				t1 := c.mustRefresh(c.first)
				t2 := c.mustRefresh(t1)
				_, errB := c.refresh(c.first) // the chain moved on: reuse revokes it
				_, errA := c.refresh(t2)
				return errA != nil, errB != nil
			},
			want:        result{State: registry.StateTrusted, Reuses: 1},
			wantRefused: [2]bool{true, true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloneEnv(t, false)
			refusedA, refusedB := tc.run(c)
			if got := [2]bool{refusedA, refusedB}; got != tc.wantRefused {
				t.Errorf("refused A, B = %v; want %v", got, tc.wantRefused)
			}
			ep := c.endpoint(c.d.id)
			got := result{
				Marked: !ep.CloneSuspectedAt.IsZero(), State: ep.State,
				Suspects: len(c.audits(registry.AuditFilter{Action: "endpoint.clone_suspected"})),
				Retries:  len(c.audits(registry.AuditFilter{Action: "token.retry"})),
				Reuses:   len(c.audits(registry.AuditFilter{Action: "token.reuse"})),
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestCloneSuspectedMarkEventAndAudit checks what a detection leaves: the
// mark at the time of the second successor's use, its audit row, the
// endpoint.clone_suspected event on the bus and in the change feed, and
// an admin clearing the mark without changing trust.
func TestCloneSuspectedMarkEventAndAudit(t *testing.T) {
	c := newCloneEnv(t, false)
	events, stop := c.reg.Bus().Subscribe(c.d.id)
	defer stop()
	from, err := c.reg.LastChange(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	a1 := c.mustRefresh(c.first)
	b1 := c.mustRefresh(c.first)
	c.mustRefresh(a1)
	c.mustRefresh(b1)
	at := c.clk.Now()

	if got := c.endpoint(c.d.id).CloneSuspectedAt; !got.Equal(at) {
		t.Errorf("CloneSuspectedAt = %v, want %v", got, at)
	}
	row := c.lastAudit("endpoint.clone_suspected")
	gotRow := map[string]string{"actor": row.Actor, "target": row.Target, "outcome": row.Outcome,
		"lock_out": row.Detail["lock_out"], "state": row.Detail["state"], "remote": row.Remote}
	wantRow := map[string]string{"actor": "system", "target": "endpoint:" + c.d.id, "outcome": registry.OutcomeSuccess,
		"lock_out": "false", "state": "trusted", "remote": "127.0.0.1"}
	if diff := cmp.Diff(wantRow, gotRow); diff != "" {
		t.Errorf("audit row (-want +got)\n%s", diff)
	}
	for _, k := range []string{"chain", "parent_token_id", "token_id", "other_token_id", "other_used_at"} {
		if row.Detail[k] == "" {
			t.Errorf("audit detail %q is empty: %v", k, row.Detail)
		}
	}

	deadline := time.After(time.Minute)
	for found := false; !found; {
		select {
		case ev := <-events:
			found = ev.Type == protocol.EventEndpointCloneSuspected && ev.State == registry.StateTrusted
		case <-deadline:
			t.Fatal("no endpoint.clone_suspected event on the bus")
		}
	}
	changes, _, err := c.reg.Changes(c.ctx, c.admin, from, 0, registry.ChangeFilter{Types: []string{protocol.EventEndpointCloneSuspected}})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Event.EndpointID != c.d.id || changes[0].Event.State != registry.StateTrusted {
		t.Errorf("change feed = %+v, want one endpoint.clone_suspected of %s", changes, c.d.id)
	}

	ep, err := c.reg.ClearCloneMark(c.ctx, c.admin, c.d.id, loopback)
	if err != nil {
		t.Fatal(err)
	}
	if !ep.CloneSuspectedAt.IsZero() || !c.endpoint(c.d.id).CloneSuspectedAt.IsZero() || ep.State != registry.StateTrusted {
		t.Errorf("after clearing: %+v", ep)
	}
	if row := c.lastAudit("endpoint.clone_clear"); row.Detail["clone_suspected_at"] != at.Format(time.RFC3339) {
		t.Errorf("clone_clear detail = %v", row.Detail)
	}
	if _, err := c.reg.ClearCloneMark(c.ctx, c.admin, c.d.id, loopback); err != nil { // no mark: a no-op
		t.Fatal(err)
	}
	if n := len(c.audits(registry.AuditFilter{Action: "endpoint.clone_clear"})); n != 1 {
		t.Errorf("%d endpoint.clone_clear rows, want 1 (clearing no mark writes none)", n)
	}
	_, err = c.reg.ClearCloneMark(c.ctx, nil, c.d.id, loopback)
	wantKind(t, err, registry.KindUnauthenticated)
}

// TestCloneLockOut: an account that locks suspected clones out untrusts
// the endpoint at the detection; both copies are then refused, their
// signed re-registrations too, until an administrator approves it again.
func TestCloneLockOut(t *testing.T) {
	c := newCloneEnv(t, true)
	a1 := c.mustRefresh(c.first)
	b1 := c.mustRefresh(c.first)
	a2 := c.mustRefresh(a1)
	_, err := c.refresh(b1)
	wantKind(t, err, registry.KindAccessDenied)
	_, err = c.refresh(a2)
	if err == nil {
		t.Fatal("copy A refreshed after the lock-out")
	}
	ep := c.endpoint(c.d.id)
	if ep.State != registry.StateUntrusted || ep.CloneSuspectedAt.IsZero() || ep.LastDecisionBy != "system" {
		t.Fatalf("after lock-out: state %s, mark %v, decided by %q", ep.State, ep.CloneSuspectedAt, ep.LastDecisionBy)
	}
	if row := c.lastAudit("endpoint.clone_suspected"); row.Detail["lock_out"] != "true" {
		t.Errorf("clone_suspected detail = %v", row.Detail)
	}
	if row := c.lastAudit("endpoint.untrust"); row.Actor != "system" {
		t.Errorf("untrust actor = %q, want system", row.Actor)
	}
	res := c.mustRegister(c.d, c.key) // a copy's signed re-registration revives nothing (E4)
	if res.Endpoint.State != registry.StateUntrusted || res.Tokens != nil {
		t.Fatalf("re-registration after lock-out: %s, tokens %v", res.Endpoint.State, res.Tokens != nil)
	}
	// The administrator decides: approve, and the copy that registers next
	// carries on; the mark stays until cleared.
	if _, err := c.reg.Decide(c.ctx, c.admin, c.d.id, registry.ActionApprove, loopback); err != nil {
		t.Fatal(err)
	}
	res = c.mustRegister(c.d, c.key)
	if res.Endpoint.State != registry.StateTrusted || res.Tokens == nil {
		t.Fatalf("after approval: %s", res.Endpoint.State)
	}
	if c.endpoint(c.d.id).CloneSuspectedAt.IsZero() {
		t.Error("approval cleared the mark; only clear-clone does")
	}
}
