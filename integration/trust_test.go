package integration

// Never losing trust (issue 5): crashes, a broker away for longer than the
// tokens live, lost or expired refresh tokens, corrupt state. Every
// recovery here happens without an administrator.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/agent/state"
	"github.com/edgetrust/edgetrust/protocol"
)

// singleUseValue adds a value with a use limit of 1 to key k, through the
// CLI as an admin would, and returns its id and value.
func singleUseValue(a *admin, k createdKey) (id, value string) {
	a.t.Helper()
	var v struct {
		ValueID string `json:"value_id"`
		Value   string `json:"value"`
	}
	a.jsonOut(&v, "keys", "add-value", k.ID, "--description", "single use", "--use-limit", "1")
	if v.ValueID == "" || !strings.HasPrefix(v.Value, "etk_") {
		a.t.Fatalf("keys add-value returned %+v", v)
	}
	return v.ValueID, v.Value
}

// useCount reads a value's use count from `keys show`.
func useCount(a *admin, k createdKey, valueID string) int64 {
	a.t.Helper()
	var shown struct {
		Values []struct {
			ID       string `json:"id"`
			UseCount int64  `json:"use_count"`
		} `json:"values"`
	}
	a.jsonOut(&shown, "keys", "show", k.ID)
	for _, v := range shown.Values {
		if v.ID == valueID {
			return v.UseCount
		}
	}
	a.t.Fatalf("keys show %s lists no value %s: %+v", k.ID, valueID, shown.Values)
	return 0
}

// dialAs connects the agent's protocol client with the identity an agent
// keeps in stateDir.
func dialAs(t *testing.T, b *brokerProc, stateDir string) *brokerclient.Conn {
	t.Helper()
	id, err := state.LoadIdentity(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	return dialAgent(t, b, identity{id: id.ClientID, key: id.Key}).conn
}

// The broker committed a registration (one use of a single-use key value),
// and the agent crashed before it saved the answer: state.json was never
// written. On restart the agent registers again with the same client id and
// key, is trusted without an administrator, and no second use is consumed
// (SPEC E9).
func TestCrashAfterRegistrationCommitted(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	valueID, value := singleUseValue(adm, k)

	dir := shortDir(t)
	stateDir := filepath.Join(dir, "state")
	id, err := state.LoadOrCreateIdentity(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	// What the agent did before the crash: HELLO and REGISTER, answered,
	// committed, and then nothing saved.
	c := dialAs(t, b, stateDir)
	reg, err := c.Register(context.Background(), protocol.Register{APIKey: value, ClientType: "desktop_client"})
	if err != nil || reg.State != protocol.StateTrusted || reg.Tokens == nil {
		t.Fatalf("first registration: %+v, %v", reg, err)
	}
	c.Close()
	if n := useCount(adm, k, valueID); n != 1 {
		t.Fatalf("use count after the first registration = %d, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(stateDir, state.StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state.json exists before the agent ever ran: %v", err)
	}

	ag := startAgentIn(t, b, value, dir)
	st := ag.waitState(t, "trusted", settle)
	if st.EndpointID != id.ClientID || !st.HasAccessToken {
		t.Fatalf("status after restart = %+v, want endpoint %s with a token", st, id.ClientID)
	}
	if _, msg, err := ag.login(nil); err != nil {
		t.Fatalf("login after restart: %v %s", err, msg)
	}
	if n := useCount(adm, k, valueID); n != 1 {
		t.Fatalf("use count after the restart = %d, want still 1", n)
	}
	if eps := adm.endpoints(); len(eps) != 1 || eps[0].ID != id.ClientID || eps[0].State != "trusted" {
		t.Fatalf("endpoints = %+v, want only %s, trusted", eps, id.ClientID)
	}
	// The limit is in force: a new device with the spent value is refused.
	other := dialAgent(t, b, newIdentity(t))
	_, err = other.conn.Register(context.Background(), protocol.Register{APIKey: value, ClientType: "desktop_client"})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidClient {
		t.Fatalf("new device with the spent value: %v, want invalid_client", err)
	}
}

// A trusted agent whose broker is down for longer than the device token
// lives hands out the user token it holds while that is valid, then answers
// broker_unreachable, and says so in status (SPEC S3c); when the broker
// returns it gets fresh device tokens by itself.
func TestBrokerDownLongerThanTokenLife(t *testing.T) {
	dataDir := t.TempDir()
	b := startBroker(t, dataDir, "127.0.0.1:0", "--device-token-ttl", "10s", "--user-token-ttl", "20s")
	k := newAdmin(t, b).createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	before := ag.waitState(t, "trusted", settle)
	user, msg, err := ag.login(nil)
	if err != nil {
		t.Fatalf("login while the broker is up: %v %s", err, msg)
	}
	// The agent received the user token before this moment.
	received := time.Now()

	b.stop(t)
	var down agentStatus
	waitFor(t, settle, "status to say the broker is unreachable", func() bool {
		down = ag.status(t)
		return !down.UnreachableSince.IsZero()
	})
	if down.State != "trusted" || !strings.HasPrefix(down.LastError, "broker unreachable: ") {
		t.Fatalf("status while the broker is down = %+v", down)
	}
	cached, msg, err := ag.login(nil)
	if err != nil || cached.AccessToken != user.AccessToken {
		t.Fatalf("login while the broker is down: %v %s; want the user token already held", err, msg)
	}

	// Past the device token's life, and past the cached user token's
	// (20 s, handed out while a quarter of it is left): nothing valid left.
	waitFor(t, time.Minute, "the held tokens to run out", func() bool {
		return time.Now().After(before.AccessExpiresAt) && time.Since(received) > 16*time.Second
	})
	if _, msg, err := ag.login(nil); err == nil || !strings.Contains(msg, "broker_unreachable") {
		t.Fatalf("login with nothing valid held: %v %q, want broker_unreachable", err, msg)
	}
	if st := ag.status(t); st.State != "trusted" || st.UnreachableSince.IsZero() || st.AccessExpiresAt.After(time.Now()) {
		t.Fatalf("status after the tokens expired = %+v", st)
	}

	startBroker(t, dataDir, b.addr, "--device-token-ttl", "10s", "--user-token-ttl", "20s")
	var back agentStatus
	waitFor(t, settle, "fresh device tokens from the returned broker", func() bool {
		back = ag.status(t)
		return back.AccessExpiresAt.After(time.Now())
	})
	if back.State != "trusted" || back.LastError != "" || !back.UnreachableSince.IsZero() {
		t.Fatalf("status after the broker returned = %+v", back)
	}
	fresh, msg, err := ag.login(nil)
	if err != nil || fresh.AccessToken == user.AccessToken {
		t.Fatalf("login after the broker returned: %v %s; want a new user token", err, msg)
	}
}

// waitRenewed waits for device tokens newer than those the agent held at
// first, and fails unless the agent is then trusted without an error.
func (a *agentProc) waitRenewed(t *testing.T, first agentStatus) {
	t.Helper()
	var renewed agentStatus
	waitFor(t, settle, "new device tokens", func() bool {
		renewed = a.status(t)
		return renewed.AccessExpiresAt.After(first.AccessExpiresAt)
	})
	if renewed.State != "trusted" || renewed.LastError != "" {
		t.Fatalf("status after renewal = %+v", renewed)
	}
}

// The refresh token expired while the device token was still in use: the
// agent registers again, signed by its key on its proven connection, and is
// trusted again without an administrator (SPEC E4).
func TestRefreshTokenExpiredAgentRegistersAgain(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--device-token-ttl", "10s", "--refresh-token-ttl", "2s")
	k := newAdmin(t, b).createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	first := ag.waitState(t, "trusted", settle)
	ag.waitRenewed(t, first)
	if n := strings.Count(b.stderr.String(), `"endpoint registered"`); n < 2 {
		t.Fatalf("broker logged %d registrations, want the first and the renewal", n)
	}
	if _, msg, err := ag.login(nil); err != nil {
		t.Fatalf("login after renewal: %v %s", err, msg)
	}
}

// Someone holding a copy of the agent's refresh token moved its chain on:
// the broker spent the token the agent still holds, and the successor too.
// When the agent presents it, the broker revokes that chain (reuse, SPEC
// T2); the agent registers again, signed by its key, and is trusted again
// without an administrator (E4). (Had the successor not been used, the
// agent's token would be the retry of a lost answer, served:
// TestAgentStateCopiedIsMarkedAsClone.)
func TestRevokedRefreshChainAgentRegistersAgain(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--device-token-ttl", "10s")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	first := ag.waitState(t, "trusted", settle)

	held, err := state.Load(ag.stateDir)
	if err != nil || held.RefreshToken == "" {
		t.Fatalf("agent state: %+v, %v", held, err)
	}
	// The copy's refreshes: the broker rotated the token twice.
	c := dialAs(t, b, ag.stateDir)
	next, err := c.Refresh(context.Background(), held.RefreshToken)
	if err != nil {
		t.Fatalf("spending the held refresh token: %v", err)
	}
	lost, err := c.Refresh(context.Background(), next.RefreshToken)
	if err != nil {
		t.Fatalf("spending its successor: %v", err)
	}

	ag.waitRenewed(t, first)
	if now, err := state.Load(ag.stateDir); err != nil || now.RefreshToken == held.RefreshToken || now.RefreshToken == lost.RefreshToken {
		t.Fatalf("agent holds no new refresh token: %v", err)
	}
	// The reuse revoked the chain: the copy's token is dead too.
	_, err = c.Refresh(context.Background(), lost.RefreshToken)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidGrant {
		t.Fatalf("the lost refresh token after reuse: %v, want invalid_grant", err)
	}
	if _, msg, err := ag.login(nil); err != nil {
		t.Fatalf("login after renewal: %v %s", err, msg)
	}
	if ep := adm.endpoint(first.EndpointID); ep == nil || ep.State != "trusted" {
		t.Fatalf("endpoint = %+v, want trusted", ep)
	}
}

// A corrupt, empty or lost state file stops the agent with a clear error
// (exit 1) and is kept as it is; status reports it too. It is never replaced
// by a new identity.
func TestCorruptStateIsReportedNotReplaced(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		want    string
		status  bool // status (which reads state.json) fails too
	}{
		{"empty state", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, state.StateFile), nil, 0o600) }, "file is empty", true},
		{"torn state", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, state.StateFile), []byte(`{"endpoint_id":"6f1c`), 0o600)
		}, "state.json", true},
		{"empty identity", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, state.IdentityFile), nil, 0o600) }, "file is empty", false},
		{"identity lost", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, state.IdentityFile)) }, "is missing but", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortDir(t)
			stateDir := filepath.Join(dir, "state")
			id, err := state.LoadOrCreateIdentity(stateDir)
			if err != nil {
				t.Fatal(err)
			}
			if err := state.Save(stateDir, state.State{EndpointID: id.ClientID, State: state.Trusted}); err != nil {
				t.Fatal(err)
			}
			tt.corrupt(t, stateDir)
			before := dirContents(t, stateDir)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin("edgetrust-agent"), "run", "--broker", "127.0.0.1:9", "--state-dir", stateDir,
				"--socket", filepath.Join(dir, "a.sock"), "--broker-fingerprint", "sha256:"+strings.Repeat("0", 64))
			cmd.Env = childEnv("EDGETRUST_API_KEY=etk_x_y")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("agent run: %v, want exit status 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "will not replace it with a new identity") {
				t.Fatalf("agent run said:\n%s\nwant %q and that it keeps the identity", out, tt.want)
			}
			if diff := cmp.Diff(before, dirContents(t, stateDir)); diff != "" {
				t.Fatalf("state directory changed (-before +after):\n%s", diff)
			}
			if tt.status {
				st := exec.Command(bin("edgetrust-agent"), "status", "--state-dir", stateDir)
				st.Env = childEnv()
				out, err := st.CombinedOutput()
				if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "corrupt") {
					t.Fatalf("status: %v\n%s\nwant exit 1 naming the corrupt file", err, out)
				}
			}
		})
	}
}

func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}
