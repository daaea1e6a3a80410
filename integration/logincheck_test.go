package integration

// Logins stop at once on every broker (issue 17): the broker verifies an
// agent's device token once per connection, and the change that ends the
// agent's logins is made through another broker sharing the PostgreSQL
// database. The very next login on the agent's broker is refused — no
// wait for a cache to expire, no wait for the change to be pushed, although
// B holds the key, the account, the endpoint and the user in memory from
// the logins before (broker/registry/readcache.go). It needs
// a PostgreSQL server (EDGETRUST_TEST_POSTGRES), like the cluster test.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
	"github.com/edgetrust/edgetrust/protocol"
)

func TestLoginStopsAtOnceOnEveryBroker(t *testing.T) {
	store := postgrestest.URL(t)
	args := []string{"--store", store, "--cluster-key-file", clusterKeyFile(t)}
	a := startBroker(t, t.TempDir(), "127.0.0.1:0", args...)
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", args...)
	adm := newAdmin(t, a)
	k := adm.createKey("--auto-trust")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// connect registers a new agent on broker B and returns its connection
	// and device token.
	connect := func() (testConn, string, string) {
		t.Helper()
		id := newIdentity(t)
		c := dialAgent(t, b, id)
		reg, err := c.conn.Register(ctx, protocol.Register{APIKey: k.Value, ClientType: protocol.ClientDesktop, Hostname: "login-check"})
		if err != nil || reg.State != protocol.StateTrusted || reg.Tokens == nil {
			t.Fatalf("registering on B: %+v, %v", reg, err)
		}
		return c, id.id, reg.Tokens.AccessToken
	}
	login := func(c testConn, key, token string) error {
		_, err := c.conn.Login(ctx, protocol.Login{APIKey: key, DeviceToken: token, Type: protocol.LoginSessionUser, Username: "alice"})
		return err
	}
	wantCode := func(what string, err error, code protocol.Code) {
		t.Helper()
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("%s: %v, want code %v", what, err, code)
		}
	}
	// Three times: the second login takes the connection's verified token
	// and fills B's memory (the first created the user), the third is
	// served from it.
	twice := func(c testConn, token string) {
		t.Helper()
		for i := range 3 {
			if err := login(c, k.Value, token); err != nil {
				t.Fatalf("login %d on B: %v", i+1, err)
			}
		}
	}

	// Untrusted through A: B refuses the next login.
	c, id, token := connect()
	twice(c, token)
	adm.run("endpoints", "untrust", id)
	wantCode("login on B after an untrust on A", login(c, k.Value, token), protocol.CodeAccessDenied)

	// The key value regenerated through A (K4): the old secret stops
	// working on B at once.
	c, _, token = connect()
	twice(c, token)
	var shown struct {
		Values []struct {
			ID string `json:"id"`
		} `json:"values"`
	}
	adm.jsonOut(&shown, "keys", "show", k.ID)
	var regen struct {
		Value string `json:"value"`
	}
	adm.jsonOut(&regen, "keys", "regenerate", k.ID, "--value", shown.Values[0].ID)
	wantCode("login on B with the regenerated value's old secret", login(c, k.Value, token), protocol.CodeInvalidClient)
	if err := login(c, regen.Value, token); err != nil {
		t.Fatalf("login on B with the new secret: %v", err)
	}

	// The value revoked through A: B refuses it at once.
	k.Value = regen.Value
	twice(c, token)
	adm.run("keys", "revoke-value", k.ID, shown.Values[0].ID)
	wantCode("login on B with a value revoked on A", login(c, k.Value, token), protocol.CodeInvalidClient)
}
