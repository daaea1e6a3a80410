package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// wakingStore is a SQLite store shared by in-process brokers, made to look
// like a shared store (a cluster.Waker). It wakes its listeners often;
// the feed, not the wake-up, carries the changes.
type wakingStore struct{ registry.Store }

func (wakingStore) Listen(ctx context.Context, wake func(registry.ChangeCursor)) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			wake(0)
		}
	}
}

// lines collects a broker's standard output.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) get(prefix string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return v
		}
	}
	return ""
}

type runningBroker struct {
	dir  string
	out  *lines
	addr string
}

func startShared(t *testing.T, st registry.Store, cfg Config) (*runningBroker, <-chan error) {
	t.Helper()
	rb := &runningBroker{dir: t.TempDir(), out: &lines{}}
	cfg.DataDir, cfg.Listen, cfg.Store, cfg.Stdout = rb.dir, "127.0.0.1:0", st, rb.out
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, stopped := make(chan error, 1), make(chan struct{})
	go func() {
		done <- b.Run(ctx)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return rb, done
}

func waitListening(t *testing.T, rb *runningBroker, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for rb.addr = rb.out.get("listening "); rb.addr == ""; rb.addr = rb.out.get("listening ") {
		select {
		case err := <-done:
			t.Fatalf("broker stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("broker did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Brokers started together on one shared store make one root account and
// admin (one password file; the other says where it is), present one TLS
// identity (same fingerprint, same DIR/tls/broker.crt), and verify each
// other's tokens from one JWKS (issue 14, point 2).
func TestBrokersShareOneIdentity(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "shared.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	st := wakingStore{sq}
	clusterKey := bytes.Repeat([]byte{9}, 32)
	var brokers []*runningBroker
	var dones []<-chan error
	for range 2 {
		rb, done := startShared(t, st, Config{ClusterKey: clusterKey})
		brokers, dones = append(brokers, rb), append(dones, done)
	}
	for i, rb := range brokers {
		waitListening(t, rb, dones[i])
	}
	a, b := brokers[0], brokers[1]
	if fa, fb := a.out.get("fingerprint "), b.out.get("fingerprint "); fa == "" || fa != fb {
		t.Errorf("fingerprints differ: %q and %q", fa, fb)
	}
	ca, _ := os.ReadFile(filepath.Join(a.dir, "tls", "broker.crt"))
	cb, _ := os.ReadFile(filepath.Join(b.dir, "tls", "broker.crt"))
	if len(ca) == 0 || !bytes.Equal(ca, cb) {
		t.Error("the brokers wrote different certificates to DIR/tls/broker.crt")
	}
	for _, rb := range brokers {
		if _, err := os.Stat(filepath.Join(rb.dir, "tls", "broker.key")); err == nil {
			t.Error("the shared TLS key was written to a data directory in clear")
		}
	}
	var winner, loser *runningBroker
	for _, rb := range brokers {
		if _, err := os.Stat(filepath.Join(rb.dir, InitialPasswordFile)); err == nil {
			if winner != nil {
				t.Fatal("two brokers wrote an initial password file")
			}
			winner = rb
		} else {
			loser = rb
		}
	}
	if winner == nil {
		t.Fatal("no broker wrote the initial password file")
	}
	where := loser.out.get("the database was bootstrapped by another broker: initial admin password in ")
	if !strings.HasSuffix(where, ":"+filepath.Join(winner.dir, InitialPasswordFile)) {
		t.Errorf("the other broker says %q, want the winner's HOST:%s", where, filepath.Join(winner.dir, InitialPasswordFile))
	}
	pw, _ := os.ReadFile(filepath.Join(winner.dir, InitialPasswordFile))

	// One admin; a token of one broker works on the other; one JWKS.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t.Cleanup(hc.CloseIdleConnections)
	for _, pair := range [][2]*runningBroker{{winner, loser}, {loser, winner}} {
		tr, err := api.New("https://"+pair[0].addr, hc).SignIn(ctx, api.SignInRequest{Username: "admin", Password: strings.TrimSpace(string(pw))})
		if err != nil {
			t.Fatal(err)
		}
		other := api.New("https://"+pair[1].addr, hc)
		other.SetToken(tr.AccessToken)
		if _, err := other.ListAccounts(ctx); err != nil {
			t.Errorf("a broker refuses the other one's token: %v", err)
		}
	}
	kids := func(rb *runningBroker) []string {
		resp, err := hc.Get("https://" + rb.addr + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []struct{ Kid string } }
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		slices.Sort(out)
		return out
	}
	// The brokers share one signing key, sealed in the store with the
	// cluster key (broker/signing).
	if ka, kb := kids(a), kids(b); len(ka) != 1 || !slices.Equal(ka, kb) {
		t.Errorf("JWKS: %v and %v, want the same one key", ka, kb)
	}
	// /readyz is 200 on both.
	for _, rb := range brokers {
		resp, err := hc.Get("https://" + rb.addr + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("/readyz: %v %v", resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

// A shared store needs a cluster key or the operator's certificate.
func TestSharedStoreNeedsAnIdentity(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "shared.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	_, done := startShared(t, wakingStore{sq}, Config{})
	select {
	case err := <-done:
		if !errors.Is(err, ErrNoClusterIdentity) {
			t.Errorf("Run = %v, want ErrNoClusterIdentity", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the broker started without a cluster identity")
	}
}
