package integration

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/broker/apikey"
	"github.com/edgetrust/edgetrust/protocol"
)

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// Generous deadlines: these tests check behaviour; latencies are measured
// and reported, never asserted to the millisecond.
const (
	settle = 30 * time.Second
)

func TestBrokerStartPrintsFingerprintAndServes(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(b.fingerprint) {
		t.Fatalf("fingerprint line = %q", b.fingerprint)
	}
	if !regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(b.addr) {
		t.Fatalf("listening line = %q", b.addr)
	}
	fi, err := os.Stat(b.caFile)
	if err != nil {
		t.Fatalf("certificate not at DIR/tls/broker.crt: %v", err)
	}
	if fi.Size() == 0 {
		t.Fatal("empty certificate")
	}
	// The admin CLI reaches the HTTPS side, the agent client the QUIC side,
	// on the same port number.
	newAdmin(t, b).run("keys", "list")
	k := newAdmin(t, b).createKey("--auto-trust")
	c := dialAgent(t, b, newIdentity(t))
	reg, err := c.conn.Register(context.Background(), protocol.Register{APIKey: k.Value, ClientType: "printer"})
	if err != nil || reg.State != protocol.StateTrusted {
		t.Fatalf("register over QUIC: %+v, %v", reg, err)
	}
}

func TestAutoTrustAgentIsTrustedAtOnce(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "trusted", settle)
	ep := adm.endpoint(st.EndpointID)
	if ep == nil || ep.State != "trusted" || ep.KeyID != k.ID || ep.Type != "desktop_client" {
		t.Fatalf("endpoints list entry for %s = %+v", st.EndpointID, ep)
	}
}

func TestPendingApprovalIsPushed(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey()
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "pending", settle)
	if eps := adm.endpoints("--state", "pending"); len(eps) != 1 || eps[0].ID != st.EndpointID {
		t.Fatalf("pending list = %+v, want only %s", eps, st.EndpointID)
	}
	// The agent is not polling: it waits on its open control stream, and the
	// broker pushes the decision on it (its log says so).
	issued := time.Now()
	adm.run("endpoints", "approve", st.EndpointID)
	answered := time.Now()
	got := ag.waitState(t, "trusted", settle)
	if !got.HasAccessToken {
		t.Fatalf("trusted agent holds no token: %+v", got)
	}
	// updated_at is when the agent wrote the pushed token to its state file.
	t.Logf("MEASURED approve issued -> agent saved its token: %v (edgetrustctl round trip %v; after the CLI returned: %v)",
		got.UpdatedAt.Sub(issued), answered.Sub(issued), got.UpdatedAt.Sub(answered))
	if !strings.Contains(b.stderr.String(), `"decision pushed"`) {
		t.Fatalf("broker log has no pushed decision:\n%s", tail(b.stderr.String(), 3000))
	}
	if _, _, err := ag.login(nil); err != nil {
		t.Fatalf("login after approval: %v", err)
	}
}

func TestRejectIsPushed(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey()
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "pending", settle)
	adm.run("endpoints", "reject", st.EndpointID)
	ag.waitState(t, "rejected", settle)
	if _, _, err := ag.login(nil); err == nil {
		t.Fatal("a rejected agent handed out a login")
	}
	if ep := adm.endpoint(st.EndpointID); ep == nil || ep.State != "rejected" {
		t.Fatalf("endpoint = %+v, want rejected", ep)
	}
}

func TestUntrustConnectedAgentStopsLogins(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "trusted", settle)
	if _, msg, err := ag.login(nil); err != nil {
		t.Fatalf("login while trusted: %v %s", err, msg)
	}
	start := time.Now()
	adm.run("endpoints", "untrust", st.EndpointID)
	ag.waitState(t, "untrusted", settle)
	t.Logf("MEASURED untrust -> agent knows: %v", time.Since(start))
	if _, _, err := ag.login(nil); err == nil {
		t.Fatal("an untrusted agent handed out a login")
	}
	// Approving again (untrusted -> trusted) is pushed too.
	adm.run("endpoints", "approve", st.EndpointID)
	ag.waitState(t, "trusted", settle)
	waitFor(t, settle, "login after re-approval", func() bool { _, _, err := ag.login(nil); return err == nil })
}

func TestDeletedAgentIsTold(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "trusted", settle)
	adm.run("endpoints", "delete", st.EndpointID)
	ag.waitState(t, "deleted", settle)
	// It does not register again on its own (E4a): the endpoint stays gone.
	// Watch for longer than the agent's backoff cap: no registration comes.
	time.Sleep(1500 * time.Millisecond)
	if ep := adm.endpoint(st.EndpointID); ep != nil {
		t.Fatalf("deleted endpoint came back: %+v", ep)
	}
}

func TestSecureLoginUsesKernelIdentity(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "trusted", settle)

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ans, msg, err := ag.login(nil)
	if err != nil {
		t.Fatalf("login: %v %s", err, msg)
	}
	if ans.TokenType != "Bearer" || ans.ExpiresIn <= 0 {
		t.Fatalf("login answer = %+v", ans)
	}
	c := claims(t, ans.AccessToken)
	if c["token_type"] != "user" || c["endpoint_id"] != st.EndpointID {
		t.Fatalf("user token claims = %v", c)
	}
	// The other session types name the same OS user with its domain or UPN.
	for _, typ := range []string{"session_user_domain", "upn"} {
		if a, msg, err := ag.login(nil, "--type", typ); err != nil || claims(t, a.AccessToken)["token_type"] != "user" {
			t.Fatalf("login --type %s: %v %s", typ, err, msg)
		}
	}

	// Another OS user gets a token for themselves, whatever they are: the
	// agent takes the name from the socket's peer credentials.
	nobody, err := user.Lookup("nobody")
	if err != nil || os.Geteuid() != 0 {
		t.Logf("running as %s; skipping the second-user half (needs root and user nobody)", me.Username)
		return
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	ans2, msg, err := ag.login(&syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)})
	if err != nil {
		t.Fatalf("login as nobody: %v %s", err, msg)
	}
	if claims(t, ans2.AccessToken)["sub"] == c["sub"] {
		t.Fatal("root and nobody got tokens for the same user")
	}
}

// identity is a device key and client id for the in-process protocol client.
type identity struct {
	id  string
	key ed25519.PrivateKey
}

func newIdentity(t *testing.T) identity {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return identity{id: uuid.NewString(), key: k}
}

type testConn struct{ conn *brokerclient.Conn }

// dialAgent connects the real protocol client (the agent's) to the broker.
func dialAgent(t *testing.T, b *brokerProc, id identity) testConn {
	t.Helper()
	tlsConf, err := brokerclient.TLSConfig("127.0.0.1", b.caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := brokerclient.Dial(ctx, brokerclient.Config{Addr: b.addr, TLS: tlsConf, Key: id.key, ClientID: id.id})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return testConn{c}
}

func TestSessionLoginNamingAdminIsRefused(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	c := dialAgent(t, b, newIdentity(t))
	ctx := context.Background()
	reg, err := c.conn.Register(ctx, protocol.Register{APIKey: k.Value, ClientType: "printer", Hostname: "prn-1"})
	if err != nil || reg.Tokens == nil {
		t.Fatalf("register: %+v %v", reg, err)
	}
	// A printer may vouch for a person, never for an administrator (S3a).
	_, err = c.conn.Login(ctx, protocol.Login{APIKey: k.Value, DeviceToken: reg.Tokens.AccessToken, Type: "session_user", Username: "admin"})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeLoginRefused {
		t.Fatalf("session login naming admin: %v, want login_refused", err)
	}
	// The same device logs in an ordinary user (created on first login, S7).
	tok, err := c.conn.Login(ctx, protocol.Login{APIKey: k.Value, DeviceToken: reg.Tokens.AccessToken, Type: "session_user", Username: "alice"})
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("session login for alice: %v", err)
	}
	// A device token without the connection's proof is refused (T3): another
	// connection with another key presents the stolen token.
	thief := dialAgent(t, b, newIdentity(t))
	if _, err := thief.conn.Register(ctx, protocol.Register{APIKey: k.Value, ClientType: "printer"}); err != nil {
		t.Fatal(err)
	}
	_, err = thief.conn.Login(ctx, protocol.Login{APIKey: k.Value, DeviceToken: reg.Tokens.AccessToken, Type: "session_user", Username: "alice"})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeAccessDenied {
		t.Fatalf("stolen device token: %v, want access_denied", err)
	}
}

func TestRefusedKeysLookTheSame(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	good := adm.createKey("--auto-trust")
	inactive := adm.createKey("--auto-trust", "--inactive")
	wrongIP := adm.createKey("--auto-trust", "--allowed-ip", "192.0.2.0/24", "--allowed-ip", "2001:db8::/32")
	expires := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)
	expired := adm.createKey("--auto-trust", "--expires", expires)
	unknown, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := time.Parse(time.RFC3339, expires)
	waitFor(t, 10*time.Second, "the key's expiry", func() bool { return time.Now().After(exp.Add(100 * time.Millisecond)) })

	ctx := context.Background()
	var first *protocol.Error
	for name, key := range map[string]string{
		"unknown": unknown, "inactive": inactive.Value, "expired": expired.Value, "wrong IP": wrongIP.Value,
		"mistyped": good.Value[:len(good.Value)-1] + "x",
	} {
		t.Run(name, func(t *testing.T) {
			c := dialAgent(t, b, newIdentity(t))
			_, err := c.conn.Register(ctx, protocol.Register{APIKey: key, ClientType: "desktop_client"})
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidClient {
				t.Fatalf("register with %s key: %v, want invalid_client", name, err)
			}
			if first == nil {
				first = pe
			} else if *pe != *first {
				t.Fatalf("refusals differ: %+v vs %+v", pe, first)
			}
		})
	}
	// The broker keeps serving everyone else.
	c := dialAgent(t, b, newIdentity(t))
	if reg, err := c.conn.Register(ctx, protocol.Register{APIKey: good.Value, ClientType: "desktop_client"}); err != nil || reg.State != "trusted" {
		t.Fatalf("good key after refusals: %+v %v", reg, err)
	}
	// The real agent with a refused key keeps retrying and says why.
	ag := startAgent(t, b, inactive.Value)
	waitFor(t, settle, "agent reports the refusal", func() bool {
		st := ag.status(t)
		return st.State == "unregistered" && st.LastError != ""
	})
	if strings.Contains(ag.status(t).LastError, inactive.Value) {
		t.Fatal("status shows the key value")
	}
	for _, secret := range []string{good.Value, inactive.Value, expired.Value, wrongIP.Value, adminPassword} {
		if strings.Contains(b.stderr.String(), secret) {
			t.Fatal("the broker log holds a secret")
		}
	}
}

func TestBrokerKilledAndRestartedKeepsTrust(t *testing.T) {
	dataDir := t.TempDir()
	b := startBroker(t, dataDir, "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey()
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "pending", settle)
	adm.run("endpoints", "approve", st.EndpointID)
	ag.waitState(t, "trusted", settle)
	before, msg, err := ag.login(nil)
	if err != nil {
		t.Fatalf("login before the crash: %v %s", err, msg)
	}

	b.kill()
	b2 := startBroker(t, dataDir, b.addr)
	if b2.fingerprint != b.fingerprint {
		t.Fatalf("fingerprint changed across restart: %s -> %s", b.fingerprint, b2.fingerprint)
	}
	start := time.Now()
	// While the agent has not yet noticed the crash it may hand out the user
	// token it holds (S3c); only a new token proves a login through the
	// restarted broker.
	waitFor(t, 60*time.Second, "a fresh login through the restarted broker", func() bool {
		ans, _, err := ag.login(nil)
		return err == nil && ans.AccessToken != before.AccessToken
	})
	t.Logf("MEASURED broker restart -> agent logs in again: %v", time.Since(start))
	if ag.status(t).State != "trusted" {
		t.Fatalf("agent state after restart = %+v", ag.status(t))
	}
	if ep := newAdmin(t, b2).endpoint(st.EndpointID); ep == nil || ep.State != "trusted" {
		t.Fatalf("endpoint after restart = %+v", ep)
	}
}

func TestFirstStartWritesInitialPassword(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerEnv(t, dir, "127.0.0.1:0", nil)
	path := filepath.Join(dir, "initial-admin-password")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("initial password file: %v %v", fi, err)
	}
	pw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := b.stdout.String()
	if !strings.Contains(out, path) {
		t.Fatalf("stdout does not name %s:\n%s", path, out)
	}
	if strings.Contains(out, strings.TrimSpace(string(pw))) || strings.Contains(b.stderr.String(), strings.TrimSpace(string(pw))) {
		t.Fatal("the password was printed although stdout is not a terminal")
	}
	// The README's way in: the file on the CLI's standard input.
	a := &admin{t: t, b: b, configDir: t.TempDir()}
	cmd := a.command("login", "--username", "admin", "--password-stdin")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("login with the initial password: %v\n%s", err, out)
	}
	a.run("keys", "list")
}

func TestAgentRefreshesAtHalfLife(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--device-token-ttl", "10s")
	adm := newAdmin(t, b)
	k := adm.createKey("--auto-trust")
	ag := startAgent(t, b, k.Value)
	first := ag.waitState(t, "trusted", settle)
	if first.AccessExpiresAt.IsZero() || first.AccessExpiresAt.Sub(first.UpdatedAt) > 11*time.Second {
		t.Fatalf("device token expiry %v (saved %v), want about 10s", first.AccessExpiresAt, first.UpdatedAt)
	}
	var second agentStatus
	waitFor(t, 30*time.Second, "the device token to be refreshed", func() bool {
		second = ag.status(t)
		return second.AccessExpiresAt.After(first.AccessExpiresAt)
	})
	// Refreshed early, well before expiry, over the same connection: the
	// broker saw one registration only.
	if left := first.AccessExpiresAt.Sub(second.UpdatedAt); left < 2*time.Second {
		t.Fatalf("refreshed only %v before expiry", left)
	}
	if n := strings.Count(b.stderr.String(), `"endpoint registered"`); n != 1 {
		t.Fatalf("broker logged %d registrations, want 1 (a refresh, not a reconnect)", n)
	}
	if _, msg, err := ag.login(nil); err != nil {
		t.Fatalf("login with the refreshed token: %v %s", err, msg)
	}
}

// SPEC §6 and K12: an agent whose key is refused says unregistered with the
// error; the endpoint keeps its trust on the broker, and the same identity
// with a good key is trusted again without a new approval.
func TestRefusedKeyAfterTrustThenGoodKeyAgain(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	manual := adm.createKey()
	dir := shortDir(t)
	ag := startAgentIn(t, b, manual.Value, dir)
	st := ag.waitState(t, "pending", settle)
	adm.run("endpoints", "approve", st.EndpointID)
	ag.waitState(t, "trusted", settle)
	ag.stop(t)

	unknown, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	bad := startAgentIn(t, b, unknown, dir)
	var refused agentStatus
	waitFor(t, settle, "the refused agent to say unregistered", func() bool {
		refused = bad.status(t)
		return refused.State == "unregistered" && refused.LastError != ""
	})
	if refused.HasAccessToken || refused.EndpointID != st.EndpointID {
		t.Fatalf("refused agent status = %+v", refused)
	}
	if _, _, err := bad.login(nil); err == nil {
		t.Fatal("an agent with a refused key handed out a login")
	}
	if ep := adm.endpoint(st.EndpointID); ep == nil || ep.State != "trusted" {
		t.Fatalf("endpoint after the refusals = %+v, want still trusted", ep)
	}
	bad.stop(t)

	good := startAgentIn(t, b, manual.Value, dir)
	good.waitState(t, "trusted", settle)
	if _, msg, err := good.login(nil); err != nil {
		t.Fatalf("login after the good key came back: %v %s", err, msg)
	}
}
