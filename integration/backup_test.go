package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Contract: edgetrust-broker backup --data-dir DIR --to FILE
// --passphrase-file P while a broker serves DIR (and registrations go on);
// edgetrust-broker restore --from FILE --data-dir NEWDIR --passphrase-file
// P; a broker served from NEWDIR has the same fingerprint, accounts, keys
// and endpoints, and the old broker's agents log in through it without a
// new approval.
//
// It is one long function because it is one story, each step using what
// the one before left (agents' state dirs, the backup, the endpoints seen
// at backup time); split, the steps would pass state through globals.
func TestBackupWhileServingRestoreKeepsAgents(t *testing.T) {
	work := t.TempDir()
	oldDir, newDir := filepath.Join(work, "old"), filepath.Join(work, "new")
	backupFile, pass := filepath.Join(work, "broker.backup"), filepath.Join(work, "pass")
	if err := os.WriteFile(pass, []byte("integration backup passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := startBroker(t, oldDir, "127.0.0.1:0")
	adm := newAdmin(t, old)
	auto, manual := adm.createKey("--auto-trust"), adm.createKey()

	// Two agents: one trusted on its key, one approved by the admin.
	autoDir, manDir := shortDir(t), shortDir(t)
	autoAgent := startAgentIn(t, old, auto.Value, autoDir)
	manAgent := startAgentIn(t, old, manual.Value, manDir)
	autoID := autoAgent.waitState(t, "trusted", settle).EndpointID
	manID := manAgent.waitState(t, "pending", settle).EndpointID
	adm.run("endpoints", "approve", manID)
	manAgent.waitState(t, "trusted", settle)
	for _, a := range []*agentProc{autoAgent, manAgent} {
		if _, msg, err := a.login(nil); err != nil {
			t.Fatalf("login through the old broker: %v %s", err, msg)
		}
	}

	// A load of registrations and approvals runs during the backup.
	tlsConf, err := brokerclient.TLSConfig("127.0.0.1", old.caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	l := &faultLoad{brokers: []*brokerProc{old}, tls: tlsConf, autoKey: auto.Value, manKey: manual.Value,
		apis: []*api.Client{adminAPI(t, brokerHTTP(t, old), old)}, pending: make(chan string, 1000),
		regs: map[string]ackReg{}, approved: map[string]time.Time{}, errs: map[string]int{}}
	ctx, stopLoad := context.WithCancel(context.Background())
	wg := l.run(ctx, 2)
	defer func() { stopLoad(); wg.Wait() }()
	waitFor(t, settle, "registrations under load", func() bool { regs, _ := l.acked(); return regs >= 4 })
	// The hidden work factor keeps scrypt quick under the race detector.
	code, out, errs := exitCode(t, bin("edgetrust-broker"), "backup", "--data-dir", oldDir, "--to", backupFile, "--passphrase-file", pass, "--scrypt-work-factor", "10")
	if code != 0 || !strings.Contains(out, "taken at") {
		t.Fatalf("backup while serving: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	backedUp := time.Now()
	waitFor(t, settle, "registrations after the backup", func() bool { return l.ackedSince(backedUp) >= 4 })
	stopLoad()
	wg.Wait()
	if st, err := os.Stat(backupFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", st, err)
	}

	oldEndpoints := ids(adm.endpoints())
	oldKeys := adm.run("keys", "list")
	oldAccounts := adm.run("accounts", "list")
	autoAgent.stop(t)
	manAgent.stop(t)
	old.stop(t)

	// A wrong passphrase is one line, exit 1, and makes nothing.
	wrong := filepath.Join(work, "wrong")
	if err := os.WriteFile(wrong, []byte("not the passphrase at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = exitCode(t, bin("edgetrust-broker"), "restore", "--from", backupFile, "--data-dir", newDir, "--passphrase-file", wrong)
	if code != 1 || !strings.Contains(errs, "wrong passphrase") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("wrong passphrase: exit %d, stderr %q; want 1 and one line", code, errs)
	}
	if _, err := os.Stat(newDir); !os.IsNotExist(err) {
		t.Fatalf("a failed restore made %s: %v", newDir, err)
	}

	code, out, errs = exitCode(t, bin("edgetrust-broker"), "restore", "--from", backupFile, "--data-dir", newDir, "--passphrase-file", pass)
	if code != 0 || !strings.Contains(out, "backup taken at ") {
		t.Fatalf("restore: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = exitCode(t, bin("edgetrust-broker"), "restore", "--from", backupFile, "--data-dir", newDir, "--passphrase-file", pass)
	if code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into a full directory: exit %d, stderr %q", code, errs)
	}

	// The restored broker, on the old address: same identity and records.
	restored := startBroker(t, newDir, old.addr)
	if restored.fingerprint != old.fingerprint {
		t.Fatalf("fingerprint %s, want the old broker's %s", restored.fingerprint, old.fingerprint)
	}
	adm2 := newAdmin(t, restored) // the same admin password
	if diff := cmp.Diff(string(oldKeys), string(adm2.run("keys", "list"))); diff != "" {
		t.Errorf("keys (-old +restored):\n%s", diff)
	}
	if diff := cmp.Diff(string(oldAccounts), string(adm2.run("accounts", "list"))); diff != "" {
		t.Errorf("accounts (-old +restored):\n%s", diff)
	}
	newEndpoints := ids(adm2.endpoints())
	for _, id := range []string{autoID, manID} {
		if e := adm2.endpoint(id); e == nil || e.State != "trusted" {
			t.Errorf("endpoint %s on the restored broker: %+v, want trusted", id, e)
		}
	}
	// Every endpoint the backup saw is there; none the restored broker
	// made up; registrations after the backup may be missing.
	extra := 0
	for id := range newEndpoints {
		if !oldEndpoints[id] {
			extra++
		}
	}
	if extra != 0 || len(newEndpoints) < 2+4 {
		t.Errorf("restored %d endpoints (%d not on the old broker), the old one had %d", len(newEndpoints), extra, len(oldEndpoints))
	}

	// The old agents' state dirs log in through it, without an approval.
	for _, c := range []struct {
		dir, key, id string
	}{{autoDir, auto.Value, autoID}, {manDir, manual.Value, manID}} {
		a := startAgentIn(t, restored, c.key, c.dir)
		if st := a.waitState(t, "trusted", settle); st.EndpointID != c.id {
			t.Errorf("agent came back as %s, want its old endpoint %s", st.EndpointID, c.id)
		}
		// status shows the state kept on disk: wait for the session with
		// the restored broker (no approval is made meanwhile).
		var msg string
		waitFor(t, settle, "a login through the restored broker", func() bool {
			_, m, err := a.login(nil)
			msg = m
			return err == nil
		})
		if !strings.Contains(a.stderr.String(), `"registered"`) {
			t.Errorf("the agent logged in without a session with the restored broker: %s", msg)
		}
	}
	if got := ids(adm2.endpoints()); len(got) != len(newEndpoints) {
		t.Errorf("the agents registered again: %d endpoints, were %d", len(got), len(newEndpoints))
	}
}

func ids(eps []endpointJSON) map[string]bool {
	out := map[string]bool{}
	for _, e := range eps {
		out[e.ID] = true
	}
	return out
}
