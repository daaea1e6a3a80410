package integration

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/protocol"
)

// TestClonedIdentityIsMarked (SPEC R24, docs/clones.md) runs the built
// broker and edgetrustctl with two hosts holding one copied identity — the
// endpoint's key, client id and refresh token — each on its own QUIC
// connection (the agent's protocol client). Each moves on from the same
// refresh token; when both successors are used, "edgetrustctl watch" sees
// endpoint.clone_suspected, "endpoints show" the mark and "audit" its row;
// "endpoints clear-clone" clears it. With --lock-out-clones the endpoint is
// untrusted instead, and the copy still connected is told so.
func TestClonedIdentityIsMarked(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	auto := adm.createKey("--auto-trust")

	watch := adm.command("watch", "-o", "json", "--type", "endpoint.clone_suspected")
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	watch.Stdout, watch.Stderr = stdout, stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { watch.Wait(); close(done) }()
	t.Cleanup(func() {
		watch.Process.Kill()
		<-done
		checkRaces(t, "edgetrustctl watch", stderr)
	})
	waitFor(t, settle, "watch to connect", func() bool {
		select {
		case <-done:
			t.Fatalf("edgetrustctl watch exited: %s", stderr)
		default:
		}
		return strings.Contains(stderr.String(), "watching events")
	})

	// fork registers an identity on host A, copies it to host B, and has
	// each refresh from the same token, then from its successor; it
	// returns the hosts' connections and B's last refresh error.
	fork := func(t *testing.T) (id identity, a, bConn *brokerclient.Conn, lastErr error) {
		id = newIdentity(t)
		a = dialAgent(t, b, id).conn
		t.Cleanup(func() { a.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		reg, err := a.Register(ctx, protocol.Register{APIKey: auto.Value, ClientType: protocol.ClientDesktop})
		if err != nil || reg.Tokens == nil {
			t.Fatalf("register: %+v %v", reg, err)
		}
		bConn = dialAgent(t, b, id).conn // the copy: same key, same client id, same tokens
		t.Cleanup(func() { bConn.Close() })
		refresh := func(c *brokerclient.Conn, rt string) (string, error) {
			tok, err := c.Refresh(ctx, rt)
			if err != nil {
				return "", err
			}
			return tok.RefreshToken, nil
		}
		a1, err := refresh(a, reg.Tokens.RefreshToken)
		if err != nil {
			t.Fatalf("host A refresh: %v", err)
		}
		b1, err := refresh(bConn, reg.Tokens.RefreshToken) // looks like a lost answer: served
		if err != nil {
			t.Fatalf("host B refresh from the same token: %v", err)
		}
		if _, err := refresh(a, a1); err != nil {
			t.Fatalf("host A second refresh: %v", err)
		}
		_, lastErr = refresh(bConn, b1)
		return id, a, bConn, lastErr
	}
	type endpointShow struct {
		State            string  `json:"state"`
		CloneSuspectedAt *string `json:"clone_suspected_at"`
	}

	t.Run("marked", func(t *testing.T) {
		id, _, _, err := fork(t)
		if err != nil {
			t.Fatalf("host B's second refresh: %v (a mark does not refuse)", err)
		}
		var ep endpointShow
		adm.jsonOut(&ep, "endpoints", "show", id.id)
		if ep.CloneSuspectedAt == nil || ep.State != "trusted" {
			t.Fatalf("endpoints show: %+v, want trusted with clone_suspected_at", ep)
		}
		waitFor(t, settle, "endpoint.clone_suspected on watch", func() bool {
			for _, l := range strings.Split(stdout.String(), "\n") {
				var ev struct{ Type, EndpointID string }
				if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == protocol.EventEndpointCloneSuspected && strings.Contains(l, id.id) {
					return true
				}
			}
			return false
		})
		var audit []struct{ Action string }
		adm.jsonOut(&audit, "audit", "--endpoint", id.id)
		var actions []string
		for _, a := range audit {
			actions = append(actions, a.Action)
		}
		if !strings.Contains(strings.Join(actions, " "), "endpoint.clone_suspected") {
			t.Errorf("audit of %s: %v, want endpoint.clone_suspected", id.id, actions)
		}
		adm.run("endpoints", "clear-clone", id.id)
		adm.jsonOut(&ep, "endpoints", "show", id.id)
		if ep.CloneSuspectedAt != nil || ep.State != "trusted" {
			t.Errorf("after clear-clone: %+v", ep)
		}
	})

	t.Run("locked out", func(t *testing.T) {
		adm.run("accounts", "update", auto.AccountID, "--lock-out-clones")
		id, a, _, err := fork(t)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeAccessDenied {
			t.Fatalf("host B's second refresh with lock-out: %v, want access_denied", err)
		}
		var ep endpointShow
		adm.jsonOut(&ep, "endpoints", "show", id.id)
		if ep.CloneSuspectedAt == nil || ep.State != "untrusted" {
			t.Fatalf("endpoints show: %+v, want untrusted with clone_suspected_at", ep)
		}
		deadline := time.After(settle)
		for told := false; !told; {
			select {
			case d := <-a.Decisions():
				told = d.State == protocol.StateUntrusted
			case <-deadline:
				t.Fatal("host A was not told the endpoint is untrusted")
			}
		}
	})
}

// TestAgentStateCopiedIsMarkedAsClone (SPEC R24) runs the built agent and
// a copy of its state (its key, client id and refresh token) used from a
// second place. The copy refreshes first; the agent, refreshing with the
// same token at half its device token's life, is served as the retry of a
// lost answer (token.retry) and carries on without registering again;
// the copy then uses its own successor and, when the agent uses its own
// at its next refresh, two successors of one token are used: the endpoint
// is marked and stays trusted, and the agent goes on logging users in.
func TestAgentStateCopiedIsMarkedAsClone(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--device-token-ttl", "10s")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	first := ag.waitState(t, "trusted", settle)
	copied, err := state.Load(ag.stateDir) // the copy of the state directory
	if err != nil || copied.RefreshToken == "" {
		t.Fatalf("agent state: %+v, %v", copied, err)
	}
	c := dialAs(t, b, ag.stateDir)
	theirs, err := c.Refresh(context.Background(), copied.RefreshToken)
	if err != nil {
		t.Fatalf("the copy's refresh: %v", err)
	}
	ag.waitRenewed(t, first) // the agent refreshed with the same token
	renewed := ag.status(t)
	if n := strings.Count(b.stderr.String(), `"endpoint registered"`); n != 1 {
		t.Errorf("broker logged %d registrations, want 1: the agent's retry is served, not refused", n)
	}
	var ep struct {
		State            string  `json:"state"`
		CloneSuspectedAt *string `json:"clone_suspected_at"`
	}
	adm.jsonOut(&ep, "endpoints", "show", first.EndpointID)
	if ep.CloneSuspectedAt != nil {
		t.Fatalf("marked before the copy used its successor: %+v", ep)
	}
	if _, err := c.Refresh(context.Background(), theirs.RefreshToken); err != nil {
		t.Fatalf("the copy's second refresh: %v", err)
	}
	ag.waitRenewed(t, renewed) // the agent uses its successor
	adm.jsonOut(&ep, "endpoints", "show", first.EndpointID)
	if ep.CloneSuspectedAt == nil || ep.State != "trusted" {
		t.Fatalf("endpoints show after both copies moved on: %+v, want trusted and marked", ep)
	}
	if _, msg, err := ag.login(nil); err != nil {
		t.Fatalf("login through the agent after the mark: %v %s", err, msg)
	}
}
