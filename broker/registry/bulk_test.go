package registry_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
)

// registerFrom registers d with key from remote as a client of type typ.
func (e *env) registerFrom(d device, key, typ string, remote netip.Addr) *registry.RegisterResult {
	e.t.Helper()
	res, err := e.reg.Register(e.ctx, registry.RegisterRequest{APIKey: key, ClientID: d.id, ClientType: typ,
		Hostname: "host-" + d.id[:8], KeyType: registry.KeyTypeEd25519, PublicKey: d.pub, Proven: true, Remote: remote})
	if err != nil {
		e.t.Fatalf("register: %v", err)
	}
	return res
}

func TestDecideManyByIDs(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	manual := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	auto := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA1.ID, AutoTrust: true})
	pending, trusted, trusted2, other := newDevice(t), newDevice(t), newDevice(t), newDevice(t)
	e.mustRegister(pending, manual.Value)
	e.mustRegister(trusted, auto.Value)
	e.mustRegister(trusted2, auto.Value)
	e.mustRegister(other, e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID}).Value)
	appr := e.user(tr.custA.ID, "appr", registry.RoleApprover)
	unknown := uuid.NewString()

	events, cancel := e.reg.Bus().Subscribe(trusted.id)
	defer cancel()
	res, err := e.reg.DecideMany(e.ctx, appr, registry.BulkRequest{Action: registry.ActionUntrust,
		IDs: []string{trusted.id, pending.id, other.id, unknown, trusted.id, trusted2.id}, Remote: loopback})
	if err != nil {
		t.Fatal(err)
	}
	want := []registry.BulkResult{
		{ID: trusted.id, Outcome: registry.BulkOK, State: registry.StateUntrusted},
		{ID: pending.id, Outcome: registry.BulkConflict, State: registry.StatePending, Error: "cannot untrust an endpoint that is pending"},
		{ID: other.id, Outcome: registry.BulkNotFound, Error: "not found"}, // customer B: invisible
		{ID: unknown, Outcome: registry.BulkNotFound, Error: "not found"},
		{ID: trusted2.id, Outcome: registry.BulkOK, State: registry.StateUntrusted},
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Fatalf("results (-want +got):\n%s", d)
	}
	select {
	case ev := <-events:
		if ev.Type != "endpoint.untrusted" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event pushed")
	}
	if ev := e.lastAudit("endpoint.untrust"); ev.Target != "endpoint:"+trusted2.id || ev.Actor != appr.Actor() {
		t.Fatalf("audit %+v", ev)
	}
	if ep := e.endpoint(other.id); ep.State != registry.StatePending {
		t.Fatalf("invisible endpoint changed: %s", ep.State)
	}

	// Approve: re-approval ok, approving a trusted endpoint is a no-op.
	res, err = e.reg.DecideMany(e.ctx, appr, registry.BulkRequest{Action: registry.ActionApprove, IDs: []string{trusted.id, pending.id}})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := e.reg.DecideMany(e.ctx, appr, registry.BulkRequest{Action: registry.ActionApprove, IDs: []string{trusted.id}})
	if err != nil {
		t.Fatal(err)
	}
	want = []registry.BulkResult{
		{ID: trusted.id, Outcome: registry.BulkOK, State: registry.StateTrusted},
		{ID: pending.id, Outcome: registry.BulkOK, State: registry.StateTrusted},
		{ID: trusted.id, Outcome: registry.BulkNoop, State: registry.StateTrusted},
	}
	if d := cmp.Diff(want, append(res, res2...)); d != "" {
		t.Fatalf("approve results (-want +got):\n%s", d)
	}

	// Seen without the permission: forbidden; the approver may not delete.
	res, err = e.reg.DecideMany(e.ctx, appr, registry.BulkRequest{Action: registry.ActionDelete, IDs: []string{pending.id}})
	if err != nil || len(res) != 1 || res[0].Outcome != registry.BulkForbidden {
		t.Fatalf("approver deleting: %+v %v", res, err)
	}
	res, err = e.reg.DecideMany(e.ctx, e.admin, registry.BulkRequest{Action: registry.ActionDelete, IDs: []string{pending.id}})
	if err != nil || len(res) != 1 || res[0].Outcome != registry.BulkOK || res[0].State != registry.StateDeleted || e.endpoint(pending.id) != nil {
		t.Fatalf("admin deleting: %+v %v", res, err)
	}

	for _, c := range []struct {
		name string
		p    *registry.Principal
		req  registry.BulkRequest
		kind registry.Kind
	}{
		{"unknown action", e.admin, registry.BulkRequest{Action: "bless", IDs: []string{pending.id}}, registry.KindInvalid},
		{"ids and filter", e.admin, registry.BulkRequest{Action: registry.ActionApprove, IDs: []string{pending.id}, Filter: &registry.EndpointFilter{}}, registry.KindInvalid},
		{"neither", e.admin, registry.BulkRequest{Action: registry.ActionApprove}, registry.KindInvalid},
		{"nobody", nil, registry.BulkRequest{Action: registry.ActionApprove, IDs: []string{pending.id}}, registry.KindUnauthenticated},
		{"invisible account in filter", appr, registry.BulkRequest{Action: registry.ActionApprove, Filter: &registry.EndpointFilter{AccountIDs: []string{tr.custB.ID}}}, registry.KindNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.reg.DecideMany(e.ctx, c.p, c.req)
			wantKind(t, err, c.kind)
		})
	}
}

func TestDecideManyByFilter(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	k1 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	k2 := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custA.ID})
	kB := e.key(registry.CreateAPIKeyRequest{AccountID: tr.custB.ID})
	net1 := netip.MustParseAddr("10.1.2.3")
	net2 := netip.MustParseAddr("10.2.0.9")
	devs := map[string]device{}
	reg := func(name, key, typ string, from netip.Addr) {
		d := newDevice(t)
		devs[name] = d
		e.registerFrom(d, key, typ, from)
	}
	reg("k1-a", k1.Value, "desktop_client", net1)
	reg("k1-b", k1.Value, "printer", net2)
	reg("k2-a", k2.Value, "desktop_client", net1)
	reg("B", kB.Value, "desktop_client", net1)
	e.clk.Advance(time.Hour)
	cut := e.clk.Now()
	e.clk.Advance(time.Hour)
	reg("late", k2.Value, "printer", net2)

	a := e.user(tr.custA.ID, "a-admin", "Administrator")
	ids := func(rs []registry.BulkResult) []string {
		var out []string
		for _, r := range rs {
			for name, d := range devs {
				if d.id == r.ID && r.Outcome == registry.BulkOK {
					out = append(out, name)
				}
			}
		}
		slices.Sort(out) // endpoints registered at one instant have no order
		return out
	}
	for _, c := range []struct {
		name   string
		action registry.Action
		f      registry.EndpointFilter
		want   []string
	}{
		{"pending of key 1", registry.ActionApprove, registry.EndpointFilter{State: registry.StatePending, KeyID: k1.Key.ID}, []string{"k1-a", "k1-b"}},
		{"untrust printers", registry.ActionUntrust, registry.EndpointFilter{Type: "printer"}, []string{"k1-b"}},
		{"reject from 10.1/16", registry.ActionReject, registry.EndpointFilter{From: netip.MustParsePrefix("10.1.0.0/16")}, []string{"k2-a"}},
		{"approve registered after the cut", registry.ActionApprove, registry.EndpointFilter{RegisteredAfter: cut}, []string{"late"}},
		{"delete registered before the cut", registry.ActionDelete, registry.EndpointFilter{RegisteredBefore: cut, State: registry.StateRejected}, []string{"k2-a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.reg.DecideMany(e.ctx, a, registry.BulkRequest{Action: c.action, Filter: &c.f, Remote: loopback})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, ids(res)); d != "" {
				t.Fatalf("changed (-want +got):\n%s\nresults: %+v", d, res)
			}
		})
	}
	// Customer B's endpoint was never touched: customer A's admin cannot see it.
	if ep := e.endpoint(devs["B"].id); ep.State != registry.StatePending {
		t.Fatalf("B: %s", ep.State)
	}
	// A caller who sees nothing changes nothing.
	nobody := e.user(tr.custA.ID, "nobody")
	res, err := e.reg.DecideMany(e.ctx, nobody, registry.BulkRequest{Action: registry.ActionApprove, Filter: &registry.EndpointFilter{}})
	if err != nil || len(res) != 0 {
		t.Fatalf("nobody: %+v %v", res, err)
	}
}

// insertPending stores n pending endpoints of account directly, as n
// registrations would.
func insertPending(tb testing.TB, st registry.Store, account string, n int, now time.Time) []string {
	tb.Helper()
	ids := make([]string, n)
	err := st.Update(context.Background(), func(tx registry.Tx) error {
		for i := range ids {
			ids[i] = uuid.NewString()
			if err := tx.CreateEndpoint(&registry.Endpoint{ID: ids[i], AccountID: account, State: registry.StatePending,
				Type: "desktop_client", Hostname: fmt.Sprintf("bulk-%d", i), RegisteredAt: now, LastSeenAt: now,
				DeviceCodeExpiresAt: now.Add(72 * time.Hour), UpdatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// More endpoints than one chunk (500): every one is decided, audited and
// pushed.
func TestDecideManyAcrossChunks(t *testing.T) {
	e := newEnv(t)
	tr := e.tree()
	const n = 501
	ids := insertPending(t, e.store, tr.custA.ID, n, e.clk.Now())
	last, cancel := e.reg.Bus().Subscribe(ids[n-1])
	defer cancel()
	res, err := e.reg.DecideMany(e.ctx, e.admin, registry.BulkRequest{Action: registry.ActionApprove,
		Filter: &registry.EndpointFilter{State: registry.StatePending, AccountIDs: []string{tr.custA.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != n {
		t.Fatalf("%d results, want %d", len(res), n)
	}
	for _, r := range res {
		if r.Outcome != registry.BulkOK {
			t.Fatalf("result %+v", r)
		}
	}
	trusted, err := e.reg.ListEndpoints(e.ctx, e.admin, registry.EndpointFilter{State: registry.StateTrusted})
	if err != nil || len(trusted) != n {
		t.Fatalf("%d trusted, %v", len(trusted), err)
	}
	if got := len(e.audits(registry.AuditFilter{Action: "endpoint.approve"})); got != n {
		t.Fatalf("%d audit rows, want %d", got, n)
	}
	select {
	case ev := <-last:
		if ev.State != registry.StateTrusted {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("last endpoint not pushed")
	}
}

// BenchmarkBulkApprove1000 approves 1,000 pending endpoints in one call and
// then issues each its tokens, as pushed agents would fetch them.
func BenchmarkBulkApprove1000(b *testing.B) {
	re := brokertest.New(b, brokertest.Options{})
	admin := re.Admin(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		ids := insertPending(b, re.Store, re.RootAccountID, 1000, time.Now())
		b.StartTimer()
		res, err := re.Registry.DecideMany(ctx, admin, registry.BulkRequest{Action: registry.ActionApprove, IDs: ids})
		if err != nil || len(res) != len(ids) {
			b.Fatalf("%d results, %v", len(res), err)
		}
		for _, id := range ids {
			if _, err := re.Registry.IssueDeviceTokens(ctx, id, "", loopback); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecideMany1000 times the bulk approval alone.
func BenchmarkDecideMany1000(b *testing.B) {
	re := brokertest.New(b, brokertest.Options{})
	admin := re.Admin(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		ids := insertPending(b, re.Store, re.RootAccountID, 1000, time.Now())
		b.StartTimer()
		if _, err := re.Registry.DecideMany(ctx, admin, registry.BulkRequest{Action: registry.ActionApprove, IDs: ids}); err != nil {
			b.Fatal(err)
		}
	}
}

// E6: text search and last-seen filters.
func TestListEndpointsTextAndSeen(t *testing.T) {
	e := newEnv(t)
	k := e.key(registry.CreateAPIKeyRequest{})
	early, late := newDevice(t), newDevice(t)
	e.mustRegister(early, k.Value)
	e.mustRegister(late, k.Value)
	e.clk.Advance(time.Hour)
	mid := e.clk.Now()
	e.clk.Advance(time.Hour)
	if err := e.reg.Seen(e.ctx, late.id, loopback); err != nil {
		t.Fatal(err)
	}
	names := func(f registry.EndpointFilter) []string {
		t.Helper()
		eps, err := e.reg.ListEndpoints(e.ctx, e.admin, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ep := range eps {
			switch ep.ID {
			case early.id:
				out = append(out, "early")
			case late.id:
				out = append(out, "late")
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    registry.EndpointFilter
		want []string
	}{
		{"text, any case", registry.EndpointFilter{Text: "HOST-" + early.id[:8]}, []string{"early"}},
		{"text matching id", registry.EndpointFilter{Text: late.id[9:20]}, []string{"late"}},
		{"seen before", registry.EndpointFilter{SeenBefore: mid}, []string{"early"}},
		{"seen after", registry.EndpointFilter{SeenAfter: mid}, []string{"late"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, names(c.f)); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}
