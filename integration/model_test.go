package integration

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAccountAndKeyModelThroughCLI walks the commands of issue 3's contract
// with the built binaries: an account and a user in it, a key's values
// added, regenerated, shown, updated, revoked and deleted, agents approved
// in bulk by filter, and the audit of it all.
func TestAccountAndKeyModelThroughCLI(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)

	// ctl runs edgetrustctl expecting exit status code, and returns stdout
	// and stderr.
	ctl := func(code int, stdin string, args ...string) (string, string) {
		t.Helper()
		cmd := adm.command(args...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("edgetrustctl %v: %v", args, err)
		}
		if got != code {
			t.Fatalf("edgetrustctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}

	// accounts create / list
	var acct struct {
		ID, Name, Type string
		ParentID       string `json:"parent_id"`
	}
	adm.jsonOut(&acct, "accounts", "create", "--name", "Acme", "--type", "customer")
	if acct.ID == "" || acct.Name != "Acme" || acct.ParentID == "" || acct.Type != "customer" {
		t.Fatalf("accounts create: %+v", acct)
	}
	var accts []struct{ ID string }
	adm.jsonOut(&accts, "accounts", "list")
	if !containsFunc(accts, func(a struct{ ID string }) bool { return a.ID == acct.ID }) {
		t.Errorf("accounts list lacks %s", acct.ID)
	}

	// users create, and the new user signs in with its role
	ctl(0, "ops-password-1234\n", "users", "create", "--account", acct.ID, "--username", "ops", "--role", "Approver", "--password-stdin")
	ops := &admin{t: t, b: b, configDir: t.TempDir()}
	login := ops.command("login", "--username", "ops", "--password-stdin")
	login.Stdin = strings.NewReader("ops-password-1234\n")
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("ops login: %v\n%s", err, out)
	}
	if eps := ops.endpoints(); len(eps) != 0 {
		t.Errorf("ops sees endpoints %+v in a new account", eps)
	}

	// keys: create in the account (--account), add a value, regenerate
	k := adm.createKey("--account", acct.ID)
	if k.AccountID != acct.ID {
		t.Fatalf("key in %s, want %s", k.AccountID, acct.ID)
	}
	var added struct {
		ValueID string `json:"value_id"`
		Value   string `json:"value"`
	}
	adm.jsonOut(&added, "keys", "add-value", k.ID, "--description", "batch 2", "--use-limit", "1",
		"--expires", time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339))
	if added.ValueID == "" || !strings.HasPrefix(added.Value, "etk_") {
		t.Fatalf("keys add-value: %+v", added)
	}

	type value struct {
		ID          string     `json:"id"`
		Description string     `json:"description"`
		LastUsedAt  *time.Time `json:"last_used_at"`
		UseCount    int64      `json:"use_count"`
		Revoked     bool       `json:"revoked"`
	}
	show := func() (shown struct {
		ID     string  `json:"id"`
		Active bool    `json:"active"`
		Values []value `json:"values"`
	}) {
		t.Helper()
		adm.jsonOut(&shown, "keys", "show", k.ID)
		return shown
	}
	initial := show().Values[0].ID

	_, stderr := ctl(2, "", "keys", "regenerate", k.ID)
	if !strings.Contains(stderr, initial) || !strings.Contains(stderr, added.ValueID) {
		t.Errorf("regenerate without --value: stderr %q does not name both values", stderr)
	}
	var regen struct {
		ID      string `json:"id"`
		ValueID string `json:"value_id"`
		Value   string `json:"value"`
	}
	adm.jsonOut(&regen, "keys", "regenerate", k.ID, "--value", initial)
	if regen.ID != k.ID || regen.ValueID != initial || regen.Value == k.Value || !strings.HasPrefix(regen.Value, "etk_") {
		t.Fatalf("keys regenerate: %+v", regen)
	}

	// Two agents, one per value; both wait for approval.
	ag1 := startAgent(t, b, regen.Value)
	ag2 := startAgent(t, b, added.Value)
	id1 := ag1.waitState(t, "pending", 30*time.Second).EndpointID
	id2 := ag2.waitState(t, "pending", 30*time.Second).EndpointID

	// endpoints approve --all by filter, through the bulk route
	var results []struct {
		ID      string `json:"id"`
		Outcome string `json:"outcome"`
		State   string `json:"state"`
	}
	adm.jsonOut(&results, "endpoints", "approve", "--all", "--state", "pending", "--key", k.ID, "--from", "127.0.0.0/8")
	got := map[string]string{}
	for _, r := range results {
		got[r.ID] = r.Outcome + "/" + r.State
	}
	if len(got) != 2 || got[id1] != "ok/trusted" || got[id2] != "ok/trusted" {
		t.Fatalf("bulk approve results %+v, want %s and %s trusted", results, id1, id2)
	}
	ag1.waitState(t, "trusted", 10*time.Second)
	ag2.waitState(t, "trusted", 10*time.Second)

	// keys show: usage per value
	sh := show()
	byID := map[string]value{}
	for _, v := range sh.Values {
		byID[v.ID] = v
	}
	for _, id := range []string{initial, added.ValueID} {
		if v := byID[id]; v.UseCount != 1 || v.LastUsedAt == nil {
			t.Errorf("value %s after one registration: %+v, want use count 1 and last used", id, v)
		}
	}

	// keys update, revoke-value, then the endpoints stay trusted (K12)
	var upd struct {
		Active     bool     `json:"active"`
		AutoTrust  bool     `json:"auto_trust"`
		AllowedIPs []string `json:"allowed_ips"`
		ExpiresAt  *string  `json:"expires_at"`
	}
	adm.jsonOut(&upd, "keys", "update", k.ID, "--active=false", "--auto-trust=true", "--allowed-ip", "10.0.0.0/8",
		"--expires", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))
	if upd.Active || !upd.AutoTrust || len(upd.AllowedIPs) != 1 || upd.ExpiresAt == nil {
		t.Errorf("keys update: %+v", upd)
	}
	adm.jsonOut(&upd, "keys", "update", k.ID, "--active=true", "--clear-allowed-ips", "--no-expiry")
	if !upd.Active || len(upd.AllowedIPs) != 0 || upd.ExpiresAt != nil {
		t.Errorf("keys update back: %+v", upd)
	}
	ctl(0, "", "keys", "revoke-value", k.ID, added.ValueID)
	if v := show().Values; !containsFunc(v, func(v value) bool { return v.ID == added.ValueID && v.Revoked }) {
		t.Errorf("value %s not revoked: %+v", added.ValueID, v)
	}
	ctl(0, "", "keys", "delete", k.ID)
	ctl(1, "", "keys", "show", k.ID)
	for _, id := range []string{id1, id2} {
		if e := adm.endpoint(id); e == nil || e.State != "trusted" {
			t.Errorf("endpoint %s after its key was deleted: %+v, want trusted", id, e)
		}
	}

	// endpoints untrust by ids: the agent learns at once
	adm.jsonOut(&results, "endpoints", "untrust", id1)
	if len(results) != 1 || results[0].Outcome != "ok" {
		t.Errorf("untrust results %+v", results)
	}
	ag1.waitState(t, "untrusted", 10*time.Second)

	// audit -o json
	var events []auditEvent
	adm.jsonOut(&events, "audit", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--action", "endpoint.approve")
	approved := map[string]bool{}
	for _, e := range events {
		if e.Action != "endpoint.approve" || e.AccountID != acct.ID || e.Outcome != "success" || !strings.HasPrefix(e.Actor, "user:") || e.Time.IsZero() {
			t.Errorf("event %+v", e)
		}
		approved[e.Target] = true
	}
	if !approved["endpoint:"+id1] || !approved["endpoint:"+id2] {
		t.Errorf("approve events %+v, want both endpoints", events)
	}
	adm.jsonOut(&events, "audit", "--action", "apikey.")
	for _, want := range []string{"apikey.create", "apikey.value.add", "apikey.value.regenerate", "apikey.update", "apikey.value.revoke", "apikey.delete"} {
		if !containsFunc(events, func(e auditEvent) bool { return e.Action == want }) {
			t.Errorf("no %s in the audit", want)
		}
	}
	raw := adm.run("audit", "-o", "json")
	for _, secret := range []string{k.Value, regen.Value, added.Value, adminPassword, "ops-password-1234"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Error("the audit log shows a secret")
		}
	}
}

type auditEvent struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	AccountID string    `json:"account_id"`
	Target    string    `json:"target"`
	Outcome   string    `json:"outcome"`
}

func containsFunc[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if f(v) {
			return true
		}
	}
	return false
}
