package integration

// The broker killed under load (issue 15, point 9): SIGKILL, as a crash or
// a power cut of the process would, every few seconds, while endpoints
// register (QUIC), an admin approves the pending ones (HTTPS) and a
// trusted device logs new users in (QUIC, SPEC S7: each first login
// creates its user). After each restart on the same data directory, every
// change the broker acknowledged before it died is there. The embedded
// SQLite store is the one under test: it is what a single broker runs.
//
// By default the broker is killed 3 times; EDGETRUST_SOAK=1 (make soak)
// kills it 4 s after each restart is ready, for two minutes.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// loginLoad logs new users in through one trusted device and records the
// users whose login the broker answered with tokens.
type loginLoad struct {
	addr, caFile, apiKey string

	mu    sync.Mutex
	acked map[string]time.Time // username -> when its login was answered
	fails int
}

// run logs in until ctx ends: one connection at a time (the broker may
// die under it), a signed re-registration for a device token, then
// logins of new users on it.
func (l *loginLoad) run(ctx context.Context, t *testing.T) {
	id := newIdentity(t)
	tlsConf, err := brokerclient.TLSConfig("127.0.0.1", l.caFile, "")
	if err != nil {
		t.Error(err)
		return
	}
	for n := 0; ctx.Err() == nil; {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := brokerclient.Dial(rctx, brokerclient.Config{Addr: l.addr, TLS: tlsConf, Key: id.key, ClientID: id.id})
		if err != nil {
			cancel()
			l.failed()
			pace(ctx, 100*time.Millisecond)
			continue
		}
		reg, err := conn.Register(rctx, protocol.Register{APIKey: l.apiKey, ClientType: protocol.ClientDesktop})
		cancel()
		if err != nil || reg.Tokens == nil {
			conn.Close()
			l.failed()
			pace(ctx, 100*time.Millisecond)
			continue
		}
		for ctx.Err() == nil {
			n++
			user := fmt.Sprintf("soak-user-%d", n)
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := conn.Login(rctx, protocol.Login{APIKey: l.apiKey, DeviceToken: reg.Tokens.AccessToken, Type: protocol.LoginSessionUser, Username: user})
			cancel()
			if err != nil {
				l.failed()
				break // a new connection
			}
			l.mu.Lock()
			l.acked[user] = time.Now()
			l.mu.Unlock()
			pace(ctx, 50*time.Millisecond)
		}
		conn.Close()
	}
}

func (l *loginLoad) failed() {
	l.mu.Lock()
	l.fails++
	l.mu.Unlock()
}

// pace waits d or until ctx ends: it spaces the load's requests.
func pace(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// killTally is what one check after a restart found.
type killTally struct{ acked, found, lost int }

// TestBrokerKilledUnderLoad is one long function because it is one run of
// kills in order (load, kill, restart, count, again); its parts share the
// load's ledgers.
func TestBrokerKilledUnderLoad(t *testing.T) {
	kills, every, soak := 3, 3*time.Second, time.Duration(0)
	if os.Getenv("EDGETRUST_SOAK") == "1" {
		kills, every, soak = 0, 4*time.Second, 2*time.Minute
	}
	dataDir := t.TempDir()
	b := startBroker(t, dataDir, "127.0.0.1:0")
	addr, caFile := b.addr, b.caFile
	adm := newAdmin(t, b)
	auto, manual := adm.createKey("--auto-trust"), adm.createKey()
	hc := brokerHTTP(t, b)
	// The load holds the address, not the process: each restart listens on
	// the same one.
	fixed := &brokerProc{addr: addr, caFile: caFile}
	tlsConf, err := brokerclient.TLSConfig("127.0.0.1", caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	adminAPIClient := adminAPI(t, hc, fixed)
	l := &faultLoad{brokers: []*brokerProc{fixed}, apis: []*api.Client{adminAPIClient}, tls: tlsConf, autoKey: auto.Value, manKey: manual.Value,
		pending: make(chan string, 1000), regs: map[string]ackReg{}, approved: map[string]time.Time{}, errs: map[string]int{}}
	logins := &loginLoad{addr: addr, caFile: caFile, apiKey: auto.Value, acked: map[string]time.Time{}}

	ctx, stopLoad := context.WithCancel(context.Background())
	wg := l.run(ctx, 2)
	wg.Add(1)
	go func() { defer wg.Done(); logins.run(ctx, t) }()
	defer func() { stopLoad(); wg.Wait() }()

	// check counts the changes acknowledged so far that the broker lacks:
	// the ledgers are copied before the broker is read, so a change
	// acknowledged meanwhile waits for the next check.
	check := func(round string) killTally {
		t.Helper()
		l.mu.Lock()
		regs, approved := maps.Clone(l.regs), maps.Clone(l.approved)
		l.mu.Unlock()
		logins.mu.Lock()
		users := maps.Clone(logins.acked)
		logins.mu.Unlock()

		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		eps, err := adminAPIClient.ListEndpoints(rctx, api.EndpointFilter{})
		if err != nil {
			t.Fatalf("%s: listing endpoints: %v", round, err)
		}
		have, err := adminAPIClient.ListUsers(rctx, "")
		if err != nil {
			t.Fatalf("%s: listing users: %v", round, err)
		}
		states := map[string]string{}
		for _, e := range eps {
			states[e.ID] = e.State
		}
		names := map[string]bool{}
		for _, u := range have {
			names[u.Username] = true
		}
		var tally killTally
		for id, r := range regs {
			tally.acked++
			if _, ok := states[id]; ok {
				tally.found++
			} else {
				tally.lost++
				t.Errorf("%s: endpoint %s (registration acknowledged at %s) is missing", round, id, r.at.Format(time.StampMilli))
			}
			if r.auto && states[id] != "" && states[id] != "trusted" {
				t.Errorf("%s: endpoint %s of the auto-trust key is %s, want trusted", round, id, states[id])
			}
		}
		for id, at := range approved {
			tally.acked++ // the approval, besides the registration
			if states[id] == "trusted" {
				tally.found++
			} else {
				tally.lost++
				t.Errorf("%s: endpoint %s (approval acknowledged at %s) is %q, want trusted", round, id, at.Format(time.StampMilli), states[id])
			}
		}
		for user, at := range users {
			tally.acked++
			if names[user] {
				tally.found++
			} else {
				tally.lost++
				t.Errorf("%s: user %s (first login acknowledged at %s) is missing", round, user, at.Format(time.StampMilli))
			}
		}
		return tally
	}

	waitFor(t, settle, "changes acknowledged under load", func() bool {
		regs, approvals := l.acked()
		logins.mu.Lock()
		n := len(logins.acked)
		logins.mu.Unlock()
		return regs >= 4 && approvals >= 1 && n >= 2
	})
	var last killTally
	start := time.Now()
	k := 0
	for k < kills || time.Since(start) < soak {
		k++
		pace(context.Background(), every) // the load runs meanwhile
		b.kill()
		b = startBroker(t, dataDir, addr)
		waitFor(t, 60*time.Second, "/readyz 200 after restart", func() bool { return readyz(hc, b) == http.StatusOK })
		last = check(fmt.Sprintf("after kill %d", k))
		t.Logf("kill %d at %v: acknowledged %d, found %d, lost %d", k, time.Since(start).Round(time.Second), last.acked, last.found, last.lost)
	}
	stopLoad()
	wg.Wait()
	final := check("at the end")
	regs, approvals := l.acked()
	logins.mu.Lock()
	nLogins, loginFails := len(logins.acked), logins.fails
	logins.mu.Unlock()
	t.Logf("%d SIGKILLs over %v: acknowledged %d changes (%d registrations, %d approvals, %d first logins); found %d, lost %d; "+
		"refused or unanswered meanwhile: %d registrations/approvals (%v), %d logins",
		k, time.Since(start).Round(time.Second), final.acked, regs, approvals, nLogins, final.found, final.lost, l.unavailable+sum(l.errs), l.errs, loginFails)
	if final.lost != 0 || final.found != final.acked {
		t.Errorf("acknowledged %d, found %d, lost %d: want every acknowledged change found", final.acked, final.found, final.lost)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
