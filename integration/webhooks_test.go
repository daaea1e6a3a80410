package integration

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestWebhookEndpointPending: with the built binaries, an agent that
// registers with a manual key makes the broker POST endpoint.pending to a
// receiver on loopback (allowed by --webhook-allow-cidr, its CA given by
// --webhook-ca), and "edgetrustctl webhooks verify" accepts its signature.
// A loopback address the operator did not allow is refused at
// configuration.
func TestWebhookEndpointPending(t *testing.T) {
	type delivery struct {
		id, ts, sig string
		body        []byte
	}
	var (
		mu  sync.Mutex
		got []delivery
	)
	rc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "receiver-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--webhook-allow-cidr", "127.0.0.1/32", "--webhook-ca", caFile)
	adm := newAdmin(t, b)
	k := adm.createKey()

	refused := adm.command("webhooks", "add", "--account", k.AccountID, "--url", "https://127.0.0.2:9/", "--event", "endpoint.pending")
	var stderr bytes.Buffer
	refused.Stderr = &stderr
	if err := refused.Run(); err == nil || !strings.Contains(stderr.String(), "loopback") {
		t.Errorf("webhooks add to 127.0.0.2 = %v, stderr %q; want a refusal naming loopback", err, stderr.String())
	}

	var cw struct {
		Webhook struct {
			ID string `json:"id"`
		} `json:"webhook"`
		Secret string `json:"secret"`
	}
	adm.jsonOut(&cw, "webhooks", "add", "--account", k.AccountID, "--url", rc.URL+"/edgetrust", "--event", "endpoint.pending")
	secretFile := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secretFile, []byte(cw.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ag := startAgent(t, b, k.Value)
	id := ag.waitState(t, "pending", settle).EndpointID
	waitFor(t, settle, "the endpoint.pending delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	d := got[0]
	mu.Unlock()
	var payload struct {
		Type string `json:"type"`
		Data struct {
			AccountID  string `json:"account_id"`
			EndpointID string `json:"endpoint_id"`
			State      string `json:"state"`
		} `json:"data"`
	}
	if err := json.Unmarshal(d.body, &payload); err != nil {
		t.Fatalf("delivery body %q: %v", d.body, err)
	}
	if payload.Type != "endpoint.pending" || payload.Data.EndpointID != id || payload.Data.AccountID != k.AccountID || payload.Data.State != "pending" {
		t.Errorf("delivery = %s, want endpoint.pending of %s in %s", d.body, id, k.AccountID)
	}

	verify := adm.command("webhooks", "verify", "--secret-file", secretFile, "--id", d.id, "--timestamp", d.ts, "--signature", d.sig)
	verify.Stdin = bytes.NewReader(d.body)
	if out, err := verify.CombinedOutput(); err != nil || !strings.Contains(string(out), "signature valid") {
		t.Errorf("webhooks verify = %v, %q; want the signature valid", err, out)
	}
	tampered := adm.command("webhooks", "verify", "--secret-file", secretFile, "--id", d.id, "--timestamp", d.ts, "--signature", d.sig)
	tampered.Stdin = bytes.NewReader(append(d.body, ' '))
	if err := tampered.Run(); err == nil {
		t.Error("webhooks verify accepted a changed body")
	}

	var log []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	waitFor(t, settle, "the delivery logged as delivered", func() bool {
		adm.jsonOut(&log, "webhooks", "deliveries", cw.Webhook.ID)
		return len(log) == 1 && log[0].State == "delivered"
	})
	if log[0].ID != d.id {
		t.Errorf("logged delivery %s, received %s", log[0].ID, d.id)
	}
}

// TestWebhookSurvivesBrokerRestart: a delivery whose first attempt failed
// is made by the broker restarted on the same data directory, with the
// same webhook-id: the outbox is in the store.
func TestWebhookSurvivesBrokerRestart(t *testing.T) {
	var (
		mu  sync.Mutex
		ids []string
		ok  bool
	)
	rc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get("webhook-id"))
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	caFile := filepath.Join(t.TempDir(), "receiver-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	args := []string{"--webhook-allow-cidr", "127.0.0.1/32", "--webhook-ca", caFile}
	b := startBroker(t, dataDir, "127.0.0.1:0", args...)
	adm := newAdmin(t, b)
	var cw struct {
		Webhook struct {
			ID string `json:"id"`
		} `json:"webhook"`
	}
	adm.jsonOut(&cw, "webhooks", "add", "--url", rc.URL, "--event", "apikey.created")
	adm.createKey()
	var log []struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
	}
	waitFor(t, settle, "the first, failed, attempt recorded", func() bool {
		adm.jsonOut(&log, "webhooks", "deliveries", cw.Webhook.ID)
		return len(log) == 1 && log[0].Attempts > 0
	})
	b.stop(t)
	mu.Lock()
	ok, first := true, ids[0]
	mu.Unlock()

	b2 := startBroker(t, dataDir, "127.0.0.1:0", args...)
	adm2 := newAdmin(t, b2)
	waitFor(t, settle, "the delivery made by the restarted broker", func() bool {
		adm2.jsonOut(&log, "webhooks", "deliveries", cw.Webhook.ID)
		return len(log) == 1 && log[0].State == "delivered"
	})
	mu.Lock()
	defer mu.Unlock()
	if log[0].ID != first || ids[len(ids)-1] != first || log[0].Attempts < 2 {
		t.Errorf("delivered %+v, receiver saw %v; want %s delivered on a later attempt", log[0], ids, first)
	}
}
