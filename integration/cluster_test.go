package integration

// Three brokers on one PostgreSQL database (issue 14, points 2, 3, 6): one
// identity, decisions pushed across brokers, a regenerated value refused
// everywhere, and an agent that moves to another broker without a new
// approval. It needs a PostgreSQL server: EDGETRUST_TEST_POSTGRES names it
// (scripts/postgres.sh starts a throwaway one); without it the test is
// skipped, except on CI (CI=true), where that is a failure.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
	"github.com/edgetrust/edgetrust/protocol"
)

// clusterKeyFile writes a cluster key as an operator would
// (openssl rand -base64 32 > FILE) and returns its path.
func clusterKeyFile(t *testing.T) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "cluster.key")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

func TestThreeBrokersOnePostgres(t *testing.T) {
	store := postgrestest.URL(t)
	keyFile := clusterKeyFile(t)
	args := []string{"--store", store, "--cluster-key-file", keyFile}

	// Without a cluster identity, serve refuses a PostgreSQL store.
	cmd := exec.Command(bin("edgetrust-broker"), "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--store", store)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "--cluster-key-file") {
		t.Errorf("serve --store postgres:// without a cluster key: %v\n%s", err, out)
	}

	var brokers []*brokerProc
	for range 3 {
		brokers = append(brokers, startBroker(t, t.TempDir(), "127.0.0.1:0", args...))
	}
	a, b, c := brokers[0], brokers[1], brokers[2]
	certA, _ := os.ReadFile(a.caFile)
	for i, x := range brokers[1:] {
		if x.fingerprint != a.fingerprint {
			t.Errorf("broker %d presents %s, the first %s", i+2, x.fingerprint, a.fingerprint)
		}
		if cert, _ := os.ReadFile(x.caFile); len(cert) == 0 || !bytes.Equal(cert, certA) {
			t.Errorf("broker %d wrote another DIR/tls/broker.crt", i+2)
		}
		if !strings.Contains(x.stdout.String(), "the database was bootstrapped by another broker") {
			t.Errorf("broker %d does not say the database was bootstrapped elsewhere:\n%s", i+2, x.stdout)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certA)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	for _, x := range brokers {
		resp, err := hc.Get("https://" + x.addr + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("/readyz of %s: %v %v", x.addr, resp, err)
		}
		if err == nil {
			resp.Body.Close()
		}
	}

	admA, admC := newAdmin(t, a), newAdmin(t, c)
	k := admA.createKey()

	// The agent knows B and C and trusts them with A's certificate: one
	// identity.
	ag := startAgent(t, a, k.Value, "--broker", b.addr+","+c.addr)
	id := ag.waitState(t, "pending", 30*time.Second).EndpointID

	// Decisions made on A and C reach the agent connected to B, pushed.
	admA.run("endpoints", "approve", id)
	ag.waitState(t, "trusted", 10*time.Second)
	admC.run("endpoints", "untrust", id)
	ag.waitState(t, "untrusted", 10*time.Second)
	admA.run("endpoints", "approve", id)
	ag.waitState(t, "trusted", 10*time.Second)

	// B goes away (stopped: a killed broker is noticed only at the QUIC
	// idle timeout): the agent moves to C, trusted without a new approval,
	// and C pushes it the next decision.
	b.stop(t)
	waitFor(t, 60*time.Second, "the agent on C", func() bool {
		st := ag.status(t)
		return st.State == "trusted" && st.LastError == "" && strings.Contains(ag.stderr.String(), c.addr)
	})
	admA.run("endpoints", "untrust", id)
	ag.waitState(t, "untrusted", 10*time.Second)

	// A regenerated value is refused on every broker at once (K4).
	var regen struct {
		Value string `json:"value"`
	}
	old := k.Value
	var shown struct {
		Values []struct {
			ID string `json:"id"`
		} `json:"values"`
	}
	admA.jsonOut(&shown, "keys", "show", k.ID)
	admA.jsonOut(&regen, "keys", "regenerate", k.ID, "--value", shown.Values[0].ID)
	for _, x := range []*brokerProc{a, c} {
		conn := dialAgent(t, x, newIdentity(t)).conn
		_, err := conn.Register(context.Background(), protocol.Register{APIKey: old, ClientType: "desktop_client"})
		var pe *protocol.Error
		if err == nil || !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidClient {
			t.Errorf("the old value on %s: %v, want invalid_client", x.addr, err)
		}
		conn.Close()
	}
}
