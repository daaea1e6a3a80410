package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// testOAuth pins the contracts of registry.OAuthTx.
func testOAuth(t *testing.T, s registry.Store) {
	seedAccounts(t, s)
	update(t, s, func(tx registry.Tx) error {
		for _, id := range []string{"ep-1", "ep-2", "ep-3"} {
			e := fullEndpoint(id)
			if id == "ep-3" {
				e.AccountID = acctB
			}
			if err := tx.CreateEndpoint(&e); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s registry.Store)
	}{
		{"DeviceCodes", testDeviceCodes},
		{"DevicePolls", testDevicePolls},
		{"ConsumeDeviceCodeConcurrent", testConsumeDeviceCodeConcurrent},
		{"KeyChanges", testKeyChanges},
		{"RebindDeviceCode", testRebindDeviceCode},
		{"CascadeOnEndpointDelete", testOAuthCascade},
		{"GetRefreshToken", testGetRefreshToken},
		{"RevokedAccessTokens", testRevokedAccessTokens},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) })
	}
}

func deviceCode(hash, endpoint, thumb string) registry.DeviceCode {
	return registry.DeviceCode{
		Hash: []byte(hash), EndpointID: endpoint, AccountID: acctA, KeyType: "ed25519",
		PublicKey: []byte{1, 2, 3}, KeyThumbprint: thumb, Interval: 5 * time.Second,
		IssuedAt: at(0), ExpiresAt: at(time.Hour),
	}
}

func getDeviceCode(t *testing.T, s registry.Store, hash string) (*registry.DeviceCode, error) {
	t.Helper()
	var dc *registry.DeviceCode
	var gerr error
	view(t, s, func(tx registry.Tx) error {
		dc, gerr = tx.GetDeviceCode([]byte(hash))
		return nil
	})
	return dc, gerr
}

// inTx runs fn in its own Update, which commits whatever fn returns; fn's
// error is handed back.
func inTx(t *testing.T, s registry.Store, fn func(tx registry.Tx) error) error {
	t.Helper()
	var ferr error
	update(t, s, func(tx registry.Tx) error {
		ferr = fn(tx)
		return nil
	})
	return ferr
}

func testDeviceCodes(t *testing.T, s registry.Store) {
	a := deviceCode("dc-a", "ep-1", "thumb-1")
	a.UsedAt, a.LastPollAt = at(time.Minute), at(2*time.Minute) // every field set
	keyless := registry.DeviceCode{Hash: []byte("dc-keyless"), EndpointID: "ep-2", AccountID: acctA, ExpiresAt: at(time.Hour)}
	other := deviceCode("dc-other-key", "ep-1", "thumb-2")
	for _, dc := range []registry.DeviceCode{a, keyless, other} {
		wantErr(t, "PutDeviceCode", inTx(t, s, func(tx registry.Tx) error { return tx.PutDeviceCode(&dc) }), nil)
	}
	t.Run("round trip", func(t *testing.T) {
		for _, want := range []registry.DeviceCode{a, keyless, other} {
			got, err := getDeviceCode(t, s, string(want.Hash))
			wantErr(t, "GetDeviceCode", err, nil)
			if d := diff(&want, got); d != "" {
				t.Errorf("GetDeviceCode(%s) mismatch (-want +got):\n%s", want.Hash, d)
			}
		}
	})
	t.Run("one code per endpoint and key", func(t *testing.T) {
		b := deviceCode("dc-b", "ep-1", "thumb-1")
		wantErr(t, "PutDeviceCode", inTx(t, s, func(tx registry.Tx) error { return tx.PutDeviceCode(&b) }), nil)
		_, err := getDeviceCode(t, s, "dc-a")
		wantErr(t, "GetDeviceCode of the replaced code", err, registry.ErrNotFound)
		for _, h := range []string{"dc-b", "dc-other-key"} {
			_, err := getDeviceCode(t, s, h)
			wantErr(t, "GetDeviceCode("+h+")", err, nil)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := getDeviceCode(t, s, "no-such-code")
		wantErr(t, "GetDeviceCode", err, registry.ErrNotFound)
		orphan := deviceCode("dc-orphan", "no-such-endpoint", "")
		wantErr(t, "PutDeviceCode for a missing endpoint",
			inTx(t, s, func(tx registry.Tx) error { return tx.PutDeviceCode(&orphan) }), registry.ErrNotFound)
		wantErr(t, "RecordDevicePoll", inTx(t, s, func(tx registry.Tx) error {
			return tx.RecordDevicePoll([]byte("no-such-code"), at(0), at(0))
		}), registry.ErrNotFound)
		wantErr(t, "ConsumeDeviceCode", inTx(t, s, func(tx registry.Tx) error {
			return tx.ConsumeDeviceCode([]byte("no-such-code"), at(0))
		}), registry.ErrNotFound)
	})
	t.Run("consume once, before expiry", func(t *testing.T) {
		c := deviceCode("dc-consume", "ep-2", "thumb-c")
		exp := deviceCode("dc-expired", "ep-2", "thumb-e")
		for _, dc := range []registry.DeviceCode{c, exp} {
			wantErr(t, "PutDeviceCode", inTx(t, s, func(tx registry.Tx) error { return tx.PutDeviceCode(&dc) }), nil)
		}
		consumeAt := func(hash string, when time.Time) error {
			return inTx(t, s, func(tx registry.Tx) error { return tx.ConsumeDeviceCode([]byte(hash), when) })
		}
		wantErr(t, "first consume", consumeAt("dc-consume", at(time.Minute)), nil)
		wantErr(t, "second consume", consumeAt("dc-consume", at(2*time.Minute)), registry.ErrConflict)
		got, _ := getDeviceCode(t, s, "dc-consume")
		if got == nil || !got.UsedAt.Equal(at(time.Minute)) {
			t.Errorf("UsedAt after consume = %+v, want %v", got, at(time.Minute))
		}
		wantErr(t, "consume at expiry", consumeAt("dc-expired", exp.ExpiresAt), registry.ErrConflict)
		if got, _ := getDeviceCode(t, s, "dc-expired"); got == nil || !got.UsedAt.IsZero() {
			t.Errorf("an expired code was marked used: %+v", got)
		}
	})
}

func testDevicePolls(t *testing.T, s registry.Store) {
	dc := deviceCode("dc-poll", "ep-3", "thumb-p")
	wantErr(t, "PutDeviceCode", inTx(t, s, func(tx registry.Tx) error { return tx.PutDeviceCode(&dc) }), nil)
	const interval = 5 * time.Second
	poll := func(when time.Time) error {
		return inTx(t, s, func(tx registry.Tx) error { return tx.RecordDevicePoll(dc.Hash, when, when.Add(-interval)) })
	}
	steps := []struct {
		at   time.Duration
		want error
	}{
		{0, nil},                            // the first poll is always in time
		{time.Second, registry.ErrConflict}, // too soon
		{interval - 1, registry.ErrConflict},
		{interval, nil}, // exactly the interval after the last recorded poll
		{interval + time.Second, registry.ErrConflict},
		{3 * interval, nil},
	}
	last := at(0)
	for _, st := range steps {
		when := at(st.at)
		wantErr(t, "RecordDevicePoll at +"+st.at.String(), poll(when), st.want)
		if st.want == nil {
			last = when
		}
		got, err := getDeviceCode(t, s, "dc-poll")
		wantErr(t, "GetDeviceCode", err, nil)
		if got != nil && !got.LastPollAt.Equal(last) {
			t.Errorf("after the poll at +%v LastPollAt = %v, want %v (a refused poll changes nothing)", st.at, got.LastPollAt, last)
		}
	}
}

func testConsumeDeviceCodeConcurrent(t *testing.T, s registry.Store) {
	dc := deviceCode("dc-race", "ep-3", "thumb-race")
	wantErr(t, "PutDeviceCode", inTx(t, s, func(tx registry.Tx) error { return tx.PutDeviceCode(&dc) }), nil)
	const workers = 16
	ok, lost := race(t, s, "ConsumeDeviceCode", workers, registry.ErrConflict, func(_ int, tx registry.Tx) error {
		return tx.ConsumeDeviceCode(dc.Hash, at(time.Second))
	})
	if ok != 1 || lost != workers-1 {
		t.Errorf("%d consumes succeeded and %d conflicted, want 1 and %d", ok, lost, workers-1)
	}
}

func keyChange(endpoint, account, thumb string, when time.Duration) registry.KeyChange {
	return registry.KeyChange{
		EndpointID: endpoint, AccountID: account, KeyType: "rsa", PublicKey: []byte{9, 8, 7},
		KeyThumbprint: thumb, KeyID: "key-1", KeyValueID: "kv-1", Description: "Floor 3", Hostname: "prn-3",
		OS: "PrinterOS", Version: "7.1", RequestedAt: at(when), RequestedFrom: "192.0.2.7",
	}
}

func getKeyChange(t *testing.T, s registry.Store, endpoint string) (*registry.KeyChange, error) {
	t.Helper()
	var kc *registry.KeyChange
	var gerr error
	view(t, s, func(tx registry.Tx) error {
		kc, gerr = tx.GetKeyChange(endpoint)
		return nil
	})
	return kc, gerr
}

func testKeyChanges(t *testing.T, s registry.Store) {
	first := keyChange("ep-1", acctA, "new-1", time.Minute)
	second := keyChange("ep-1", acctA, "new-2", 2*time.Minute) // refused: first is pending
	ep2 := keyChange("ep-2", acctA, "new-3", time.Second)
	ep3 := keyChange("ep-3", acctB, "new-4", time.Hour)
	for _, kc := range []registry.KeyChange{first, ep2, ep3} {
		wantErr(t, "CreateKeyChange", inTx(t, s, func(tx registry.Tx) error { return tx.CreateKeyChange(&kc) }), nil)
	}
	listed := func(ids []string) []registry.KeyChange {
		var got []registry.KeyChange
		view(t, s, func(tx registry.Tx) error {
			var err error
			got, err = tx.ListKeyChanges(ids)
			return err
		})
		return got
	}
	t.Run("never replaced", func(t *testing.T) {
		wantErr(t, "CreateKeyChange while one is pending",
			inTx(t, s, func(tx registry.Tx) error { return tx.CreateKeyChange(&second) }), registry.ErrConflict)
		got, err := getKeyChange(t, s, "ep-1")
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(&first, got); d != "" {
			t.Errorf("GetKeyChange after a refused second change (-want +got):\n%s", d)
		}
	})
	t.Run("list", func(t *testing.T) {
		if d := diff([]registry.KeyChange{ep2, first, ep3}, listed(nil)); d != "" {
			t.Errorf("ListKeyChanges(nil) (-want +got):\n%s", d)
		}
		if d := diff([]registry.KeyChange{ep3}, listed([]string{acctB})); d != "" {
			t.Errorf("ListKeyChanges(B) (-want +got):\n%s", d)
		}
		if got := listed([]string{}); len(got) != 0 {
			t.Errorf("ListKeyChanges(no account) = %v, want nothing", got)
		}
	})
	t.Run("delete", func(t *testing.T) {
		wantErr(t, "DeleteKeyChange of another thumbprint",
			inTx(t, s, func(tx registry.Tx) error { return tx.DeleteKeyChange("ep-1", "new-2") }), registry.ErrConflict)
		if _, err := getKeyChange(t, s, "ep-1"); err != nil {
			t.Errorf("the change is gone after a refused delete: %v", err)
		}
		wantErr(t, "DeleteKeyChange by thumbprint", inTx(t, s, func(tx registry.Tx) error { return tx.DeleteKeyChange("ep-1", "new-1") }), nil)
		wantErr(t, "DeleteKeyChange of whichever", inTx(t, s, func(tx registry.Tx) error { return tx.DeleteKeyChange("ep-2", "") }), nil)
		wantErr(t, "DeleteKeyChange again", inTx(t, s, func(tx registry.Tx) error { return tx.DeleteKeyChange("ep-2", "") }), registry.ErrNotFound)
		wantErr(t, "DeleteKeyChange by thumbprint, none pending",
			inTx(t, s, func(tx registry.Tx) error { return tx.DeleteKeyChange("ep-2", "new-3") }), registry.ErrNotFound)
		_, err := getKeyChange(t, s, "ep-2")
		wantErr(t, "GetKeyChange", err, registry.ErrNotFound)
		orphan := keyChange("no-such-endpoint", acctA, "x", 0)
		wantErr(t, "CreateKeyChange for a missing endpoint",
			inTx(t, s, func(tx registry.Tx) error { return tx.CreateKeyChange(&orphan) }), registry.ErrNotFound)
		// Once decided, a new change may come.
		wantErr(t, "CreateKeyChange after the first was decided",
			inTx(t, s, func(tx registry.Tx) error { return tx.CreateKeyChange(&second) }), nil)
		wantErr(t, "DeleteKeyChange", inTx(t, s, func(tx registry.Tx) error { return tx.DeleteKeyChange("ep-1", "") }), nil)
	})
	t.Run("concurrent", func(t *testing.T) {
		const workers = 16
		ok, lost := race(t, s, "CreateKeyChange", workers, registry.ErrConflict, func(i int, tx registry.Tx) error {
			kc := keyChange("ep-2", acctA, fmt.Sprintf("racer-%d", i), time.Duration(i)*time.Second)
			return tx.CreateKeyChange(&kc)
		})
		if ok != 1 || lost != workers-1 {
			t.Errorf("%d key changes stored and %d refused, want 1 and %d", ok, lost, workers-1)
		}
	})
}

func testRebindDeviceCode(t *testing.T, s registry.Store) {
	update(t, s, func(tx registry.Tx) error { e := fullEndpoint("ep-rebind"); return tx.CreateEndpoint(&e) })
	old := registry.DeviceCode{Hash: []byte("dc-rebind-old"), EndpointID: "ep-rebind", AccountID: acctA, ExpiresAt: at(time.Hour)}
	marked := old
	marked.Hash, marked.KeyThumbprint = []byte("dc-rebind-new"), "keyless-x"
	for _, dc := range []registry.DeviceCode{old, marked} {
		wantErr(t, "PutDeviceCode", inTx(t, s, func(tx registry.Tx) error { return tx.PutDeviceCode(&dc) }), nil)
	}
	wantErr(t, "RebindDeviceCode", inTx(t, s, func(tx registry.Tx) error { return tx.RebindDeviceCode("ep-rebind", "keyless-x", "") }), nil)
	_, err := getDeviceCode(t, s, "dc-rebind-old")
	wantErr(t, "GetDeviceCode of the code replaced", err, registry.ErrNotFound)
	got, err := getDeviceCode(t, s, "dc-rebind-new")
	if err != nil {
		t.Fatal(err)
	}
	want := marked
	want.KeyThumbprint = ""
	if d := diff(&want, got); d != "" {
		t.Errorf("the rebound code (-want +got):\n%s", d)
	}
	wantErr(t, "RebindDeviceCode again", inTx(t, s, func(tx registry.Tx) error { return tx.RebindDeviceCode("ep-rebind", "keyless-x", "") }), registry.ErrNotFound)
}

func testOAuthCascade(t *testing.T, s registry.Store) {
	update(t, s, func(tx registry.Tx) error {
		e := fullEndpoint("ep-doomed")
		if err := tx.CreateEndpoint(&e); err != nil {
			return err
		}
		dc := deviceCode("dc-doomed", "ep-doomed", "t")
		if err := tx.PutDeviceCode(&dc); err != nil {
			return err
		}
		kc := keyChange("ep-doomed", acctA, "t2", 0)
		if err := tx.CreateKeyChange(&kc); err != nil {
			return err
		}
		return tx.DeleteEndpoint("ep-doomed")
	})
	_, err := getDeviceCode(t, s, "dc-doomed")
	wantErr(t, "GetDeviceCode after the endpoint was deleted", err, registry.ErrNotFound)
	wantErr(t, "GetKeyChange after the endpoint was deleted",
		inTx(t, s, func(tx registry.Tx) error { _, err := tx.GetKeyChange("ep-doomed"); return err }), registry.ErrNotFound)
	// An endpoint registered again under the id starts clean.
	update(t, s, func(tx registry.Tx) error { e := fullEndpoint("ep-doomed"); return tx.CreateEndpoint(&e) })
	wantErr(t, "GetKeyChange of the new endpoint",
		inTx(t, s, func(tx registry.Tx) error { _, err := tx.GetKeyChange("ep-doomed"); return err }), registry.ErrNotFound)
}

func testGetRefreshToken(t *testing.T, s registry.Store) {
	tok := token("rt-get", "chain-get", registry.SubjectEndpoint, "ep-1", "")
	createTokens(t, s, tok)
	var got *registry.RefreshToken
	view(t, s, func(tx registry.Tx) error {
		var err error
		got, err = tx.GetRefreshToken(tok.Hash)
		return err
	})
	if d := diff(&tok, got); d != "" {
		t.Errorf("GetRefreshToken (-want +got):\n%s", d)
	}
	// Reading does not consume.
	if _, err := consume(t, s, tok.Hash, at(time.Second)); err != nil {
		t.Errorf("consume after GetRefreshToken: %v", err)
	}
	wantErr(t, "GetRefreshToken(unknown)",
		inTx(t, s, func(tx registry.Tx) error { _, err := tx.GetRefreshToken([]byte("nope")); return err }), registry.ErrNotFound)
}

func testRevokedAccessTokens(t *testing.T, s registry.Store) {
	revoked := func(jti string) bool {
		var ok bool
		view(t, s, func(tx registry.Tx) error {
			var err error
			ok, err = tx.AccessTokenRevoked(jti)
			return err
		})
		return ok
	}
	if revoked("jti-1") {
		t.Fatal("a token never revoked is reported revoked")
	}
	for range 2 { // revoking twice is not an error
		wantErr(t, "RevokeAccessToken", inTx(t, s, func(tx registry.Tx) error { return tx.RevokeAccessToken("jti-1", at(time.Hour)) }), nil)
	}
	if !revoked("jti-1") || revoked("jti-2") {
		t.Errorf("revoked(jti-1) = %v, revoked(jti-2) = %v; want true, false", revoked("jti-1"), revoked("jti-2"))
	}
}
