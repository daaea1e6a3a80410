package integration

// Signing-key rotation (SPEC T5, issue 16): `edgetrustctl signing-keys
// rotate` publishes a new key in the JWKS (with its Cache-Control max-age)
// and the old one stays; on brokers sharing PostgreSQL every broker
// publishes the new key, and a restart keeps the keys.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
)

type rotation struct {
	KeyID                 string    `json:"key_id"`
	ActivatesAt           time.Time `json:"activates_at"`
	Replaces              string    `json:"replaces_key_id"`
	ReplacedUnpublishedAt time.Time `json:"replaced_unpublished_at"`
}

// jwksOf fetches the broker's JWKS and returns its key ids (sorted) and
// its Cache-Control header.
func jwksOf(t *testing.T, b *brokerProc) ([]string, string) {
	t.Helper()
	resp, err := httpsClient(t, b).Get("https://" + b.addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS: %v\n%s", err, body)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	sort.Strings(kids)
	return kids, resp.Header.Get("Cache-Control")
}

func TestSigningKeyRotation(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir, "127.0.0.1:0", "--jwks-max-age", "90s")
	adm := newAdmin(t, b)
	before, cc := jwksOf(t, b)
	if len(before) != 1 || cc != "max-age=90" {
		t.Fatalf("JWKS before a rotation: %v, Cache-Control %q; want one key, max-age=90", before, cc)
	}
	var rot rotation
	asked := time.Now()
	adm.jsonOut(&rot, "signing-keys", "rotate")
	// Published at least the JWKS max-age (90 s) before it signs, counted
	// from before the request: however slow the machine, never less.
	if rot.Replaces != before[0] || rot.KeyID == before[0] || rot.ActivatesAt.Sub(asked) < 90*time.Second {
		t.Fatalf("rotation %+v: want a new key replacing %s, signing at least 90 s after %v", rot, before[0], asked)
	}
	after, _ := jwksOf(t, b)
	if want := []string{before[0], rot.KeyID}; !slices.Equal(after, sorted(want)) {
		t.Fatalf("JWKS after the rotation: %v, want both %v", after, want)
	}
	var keys []struct {
		KeyID string `json:"key_id"`
		State string `json:"state"`
	}
	adm.jsonOut(&keys, "signing-keys", "list")
	if len(keys) != 2 || keys[0].KeyID != before[0] || keys[0].State != "active" || keys[1].KeyID != rot.KeyID || keys[1].State != "next" {
		t.Errorf("signing-keys list after a rotation: %+v; want the old key active and the new one next", keys)
	}
	// The admin's session still works: tokens keep verifying, and the
	// new key does not sign yet.
	adm.run("sessions", "list")

	// The keys survive a restart.
	b.stop(t)
	b2 := startBroker(t, dir, "127.0.0.1:0", "--jwks-max-age", "90s")
	if again, _ := jwksOf(t, b2); !slices.Equal(again, after) {
		t.Errorf("JWKS after a restart: %v, want %v", again, after)
	}

	// Rotation is an administrator's at the root account; its audit row
	// names the key.
	var events []struct {
		Action string `json:"action"`
		Target string `json:"target"`
	}
	adm2 := newAdmin(t, b2)
	adm2.jsonOut(&events, "audit", "--action", "token.signing_key.rotate")
	if len(events) != 1 || events[0].Target != "signing_key:"+rot.KeyID {
		t.Errorf("audit of the rotation: %+v", events)
	}
}

func TestSigningKeyRotationSharedPostgres(t *testing.T) {
	url := postgrestest.URL(t)
	keyFile := clusterKeyFile(t)
	a := startBroker(t, t.TempDir(), "127.0.0.1:0", "--store", url, "--cluster-key-file", keyFile)
	b := startBroker(t, t.TempDir(), "127.0.0.1:0", "--store", url, "--cluster-key-file", keyFile)
	ka, _ := jwksOf(t, a)
	kb, _ := jwksOf(t, b)
	if !slices.Equal(ka, kb) || len(ka) != 1 {
		t.Fatalf("JWKS of A %v and B %v: want the one shared key", ka, kb)
	}
	var rot rotation
	newAdmin(t, a).jsonOut(&rot, "signing-keys", "rotate")
	want := sorted([]string{ka[0], rot.KeyID})
	waitFor(t, settle, "broker B to publish the key A made", func() bool {
		got, _ := jwksOf(t, b)
		return slices.Equal(got, want)
	})
	// A session B signed in verifies on A, and the other way round.
	for _, pair := range [][2]*brokerProc{{b, a}, {a, b}} {
		from, to := pair[0], pair[1]
		data, err := os.ReadFile(filepath.Join(newAdmin(t, from).configDir, "session.json"))
		if err != nil {
			t.Fatal(err)
		}
		var sess struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(data, &sess); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, "https://"+to.addr+"/api/v1/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+sess.AccessToken)
		resp, err := httpsClient(t, to).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a token %s issued, on %s: %s", from.addr, to.addr, resp.Status)
		}
	}
}

func httpsClient(t *testing.T, b *brokerProc) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(b.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}
