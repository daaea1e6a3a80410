package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// testWebhooks pins the round trips, orders and errors of WebhookTx.
func testWebhooks(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	hooks := []registry.Webhook{
		{ID: "wh-2", AccountID: acctA, URL: "https://a.example/hook?x=1", Events: []string{"endpoint.pending", "apikey.*"},
			Description: "d", SealedSecret: []byte{1, 2, 3}, CreatedBy: "user:u1", CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Second)},
		{ID: "wh-1", AccountID: acctA, URL: "https://b.example/", Events: []string{"endpoint.*"}, SealedSecret: []byte{9},
			CreatedAt: at(time.Second)},
		{ID: "wh-0", AccountID: acctB, URL: "https://c.example/", Events: []string{"apikey.created"}, SealedSecret: []byte{8},
			CreatedAt: at(0)},
	}
	update(t, s, func(tx registry.Tx) error {
		for i := range hooks {
			if err := tx.CreateWebhook(&hooks[i]); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx registry.Tx) error {
		for _, want := range hooks {
			got, err := tx.GetWebhook(want.ID)
			if err != nil {
				t.Fatalf("GetWebhook(%q): %v", want.ID, err)
			}
			if d := diff(&want, got); d != "" {
				t.Errorf("GetWebhook(%q) mismatch (-want +got):\n%s", want.ID, d)
			}
		}
		_, err := tx.GetWebhook("nope")
		wantErr(t, "GetWebhook(nope)", err, registry.ErrNotFound)
		for _, tc := range []struct {
			account string
			want    []string
		}{{"", []string{"wh-0", "wh-1", "wh-2"}}, {acctA, []string{"wh-1", "wh-2"}}, {acctRoot, nil}} {
			got, err := tx.ListWebhooks(tc.account)
			if err != nil {
				t.Fatalf("ListWebhooks(%q): %v", tc.account, err)
			}
			var ids []string
			for _, w := range got {
				ids = append(ids, w.ID)
			}
			if d := diff(tc.want, ids); d != "" {
				t.Errorf("ListWebhooks(%q) mismatch (-want +got):\n%s", tc.account, d)
			}
		}
		return nil
	})
	update(t, s, func(tx registry.Tx) error {
		dup := hooks[0]
		wantErr(t, "CreateWebhook(duplicate)", tx.CreateWebhook(&dup), registry.ErrConflict)
		w := hooks[0]
		w.URL, w.Events, w.Description, w.SealedSecret, w.UpdatedAt = "https://new.example/", []string{"endpoint.trusted"}, "", []byte{7}, at(time.Hour)
		if err := tx.UpdateWebhook(&w); err != nil {
			return err
		}
		got, err := tx.GetWebhook(w.ID)
		if err != nil {
			return err
		}
		if d := diff(&w, got); d != "" {
			t.Errorf("after UpdateWebhook mismatch (-want +got):\n%s", d)
		}
		missing := registry.Webhook{ID: "nope"}
		wantErr(t, "UpdateWebhook(nope)", tx.UpdateWebhook(&missing), registry.ErrNotFound)
		d := registry.WebhookDelivery{ID: "msg_1", WebhookID: "wh-1", AccountID: acctA, EventType: "endpoint.pending",
			Payload: []byte(`{}`), CreatedAt: at(0), QueuedAt: at(0), State: registry.DeliveryPending, NextAttemptAt: at(0)}
		if err := tx.CreateWebhookDelivery(&d); err != nil {
			return err
		}
		if err := tx.DeleteWebhook("wh-1"); err != nil {
			return err
		}
		_, err = tx.GetWebhookDelivery("msg_1")
		wantErr(t, "GetWebhookDelivery after DeleteWebhook", err, registry.ErrNotFound)
		wantErr(t, "DeleteWebhook(again)", tx.DeleteWebhook("wh-1"), registry.ErrNotFound)
		return nil
	})
}

// testWebhookDeliveries pins the delivery log, claims under a lease and
// saves conditional on the lease.
func testWebhookDeliveries(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	update(t, s, func(tx registry.Tx) error {
		return tx.CreateWebhook(&registry.Webhook{ID: "wh", AccountID: acctA, URL: "https://a.example/", Events: []string{"endpoint.*"},
			SealedSecret: []byte{1}, CreatedAt: at(0)})
	})
	var all []registry.WebhookDelivery
	for i := range 4 {
		all = append(all, registry.WebhookDelivery{ID: fmt.Sprintf("msg_%d", i), WebhookID: "wh", AccountID: acctA,
			EventType: "endpoint.pending", Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: at(time.Duration(i) * time.Second),
			QueuedAt: at(time.Duration(i) * time.Second), State: registry.DeliveryPending, NextAttemptAt: at(time.Duration(i) * time.Second)})
	}
	all[3].NextAttemptAt = at(time.Hour) // not due
	update(t, s, func(tx registry.Tx) error {
		for i := range all {
			if err := tx.CreateWebhookDelivery(&all[i]); err != nil {
				return err
			}
		}
		dup := all[0]
		wantErr(t, "CreateWebhookDelivery(duplicate)", tx.CreateWebhookDelivery(&dup), registry.ErrConflict)
		orphan := all[0]
		orphan.ID, orphan.WebhookID = "msg_x", "nope"
		wantErr(t, "CreateWebhookDelivery(no webhook)", tx.CreateWebhookDelivery(&orphan), registry.ErrNotFound)
		return nil
	})
	view(t, s, func(tx registry.Tx) error {
		got, err := tx.ListWebhookDeliveries("wh", 2)
		if err != nil {
			return err
		}
		if d := diff([]registry.WebhookDelivery{all[3], all[2]}, got); d != "" {
			t.Errorf("ListWebhookDeliveries(limit 2) mismatch (-want +got):\n%s", d)
		}
		return nil
	})

	now := at(10 * time.Second)
	view(t, s, func(tx registry.Tx) error {
		for _, tc := range []struct {
			at   time.Time
			want bool
		}{{at(-time.Second), false}, {at(0), true}, {now, true}} {
			got, err := tx.AnyWebhookDeliveryDue(tc.at)
			if err != nil {
				return err
			}
			if got != tc.want {
				t.Errorf("AnyWebhookDeliveryDue(%v) = %v, want %v", tc.at, got, tc.want)
			}
		}
		return nil
	})
	var claimed []registry.WebhookDelivery
	update(t, s, func(tx registry.Tx) error {
		var err error
		claimed, err = tx.ClaimWebhookDeliveries("w1", now, now.Add(time.Minute), 2)
		return err
	})
	var ids []string
	for _, d := range claimed {
		ids = append(ids, d.ID)
		if d.LeaseOwner != "w1" || !d.LeaseUntil.Equal(now.Add(time.Minute)) {
			t.Errorf("claimed %s: lease %q until %v, want w1 until %v", d.ID, d.LeaseOwner, d.LeaseUntil, now.Add(time.Minute))
		}
	}
	if d := diff([]string{"msg_0", "msg_1"}, ids); d != "" {
		t.Errorf("first claim mismatch (-want +got):\n%s", d)
	}
	update(t, s, func(tx registry.Tx) error {
		// Leased rows and rows not due are not claimed again.
		got, err := tx.ClaimWebhookDeliveries("w2", now, now.Add(time.Minute), 10)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].ID != "msg_2" {
			t.Errorf("second claim = %v, want msg_2 alone", got)
		}
		// Another worker cannot save a delivery w1 holds.
		d := claimed[0]
		d.State, d.Attempts = registry.DeliveryDelivered, 1
		wantErr(t, "SaveWebhookDelivery(not the owner)", tx.SaveWebhookDelivery(&d, "w2"), registry.ErrConflict)
		d.LeaseOwner, d.LeaseUntil, d.DeliveredAt, d.LastStatus, d.LastAttemptAt = "", time.Time{}, now, 204, now
		if err := tx.SaveWebhookDelivery(&d, "w1"); err != nil {
			return err
		}
		back, err := tx.GetWebhookDelivery(d.ID)
		if err != nil {
			return err
		}
		if df := diff(&d, back); df != "" {
			t.Errorf("after SaveWebhookDelivery mismatch (-want +got):\n%s", df)
		}
		missing := registry.WebhookDelivery{ID: "nope"}
		wantErr(t, "SaveWebhookDelivery(nope)", tx.SaveWebhookDelivery(&missing, ""), registry.ErrNotFound)
		return nil
	})
	view(t, s, func(tx registry.Tx) error {
		// msg_1 and msg_2 are leased, msg_0 delivered, msg_3 not due.
		if got, err := tx.AnyWebhookDeliveryDue(now); err != nil || got {
			t.Errorf("AnyWebhookDeliveryDue with every due delivery leased = %v, %v; want false", got, err)
		}
		return nil
	})
	// A lease that ended is free again.
	later := now.Add(2 * time.Minute)
	update(t, s, func(tx registry.Tx) error {
		got, err := tx.ClaimWebhookDeliveries("w3", later, later.Add(time.Minute), 10)
		if err != nil {
			return err
		}
		var ids []string
		for _, d := range got {
			ids = append(ids, d.ID)
		}
		if d := diff([]string{"msg_1", "msg_2"}, ids); d != "" {
			t.Errorf("claim after the leases ended mismatch (-want +got):\n%s", d)
		}
		return nil
	})
}

// testPurgeWebhookDeliveries: finished deliveries queued before the
// bound go; pending ones and newer ones stay.
func testPurgeWebhookDeliveries(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	update(t, s, func(tx registry.Tx) error {
		if err := tx.CreateWebhook(&registry.Webhook{ID: "wh", AccountID: acctA, URL: "https://a.example/", Events: []string{"endpoint.*"},
			SealedSecret: []byte{1}, CreatedAt: at(0)}); err != nil {
			return err
		}
		for _, d := range []struct {
			id, state string
			queued    time.Duration
		}{
			{"old-delivered", registry.DeliveryDelivered, 0}, {"old-failed", registry.DeliveryFailed, time.Second},
			{"old-pending", registry.DeliveryPending, 0}, {"new-delivered", registry.DeliveryDelivered, time.Hour},
		} {
			if err := tx.CreateWebhookDelivery(&registry.WebhookDelivery{ID: d.id, WebhookID: "wh", AccountID: acctA,
				Payload: []byte("{}"), CreatedAt: at(0), QueuedAt: at(d.queued), State: d.state, NextAttemptAt: at(0)}); err != nil {
				return err
			}
		}
		n, err := tx.PurgeWebhookDeliveries(at(time.Minute))
		if err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("PurgeWebhookDeliveries = %d, want 2", n)
		}
		left, err := tx.ListWebhookDeliveries("wh", 0)
		if err != nil {
			return err
		}
		var ids []string
		for _, d := range left {
			ids = append(ids, d.ID)
		}
		if d := diff([]string{"old-pending", "new-delivered"}, ids); d != "" && diff([]string{"new-delivered", "old-pending"}, ids) != "" {
			t.Errorf("left after purge mismatch (-want +got):\n%s", d)
		}
		return nil
	})
}

// testWebhookClaimRace: workers claiming at once never share a delivery.
func testWebhookClaimRace(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	const n = 40
	update(t, s, func(tx registry.Tx) error {
		if err := tx.CreateWebhook(&registry.Webhook{ID: "wh", AccountID: acctA, URL: "https://a.example/", Events: []string{"endpoint.*"},
			SealedSecret: []byte{1}, CreatedAt: at(0)}); err != nil {
			return err
		}
		for i := range n {
			if err := tx.CreateWebhookDelivery(&registry.WebhookDelivery{ID: fmt.Sprintf("msg_%02d", i), WebhookID: "wh",
				AccountID: acctA, Payload: []byte("{}"), CreatedAt: at(0), QueuedAt: at(0), State: registry.DeliveryPending,
				NextAttemptAt: at(0)}); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	seen := map[string]string{}
	now := at(time.Second)
	race(t, s, "ClaimWebhookDeliveries", 8, registry.ErrConflict, func(i int, tx registry.Tx) error {
		owner := fmt.Sprintf("w%d", i)
		got, err := tx.ClaimWebhookDeliveries(owner, now, now.Add(time.Minute), 7)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, d := range got {
			if prev, ok := seen[d.ID]; ok && prev != owner {
				t.Errorf("%s claimed by %s and %s", d.ID, prev, owner)
			}
			seen[d.ID] = owner
		}
		return nil
	})
	if len(seen) != n {
		t.Errorf("claimed %d deliveries, want all %d", len(seen), n)
	}
}
