package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/postgres"
	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
	"github.com/edgetrust/edgetrust/broker/store/storetest"
)

// open opens a store on url, closed when the test ends.
func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	postgrestest.ServerURL(t)
	storetest.Run(t, func(t *testing.T) registry.Store {
		s, err := postgres.Open(context.Background(), postgres.Config{URL: postgrestest.URL(t)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// Brokers that start together on an empty database each run Open at
// once: the migrations run once, under the migration lock, and every Open
// succeeds. Without the lock the losers fail creating schema_migrations or
// the tables (relation already exists, or a duplicate in the catalog).
func TestOpenConcurrentlyOnEmptyDatabase(t *testing.T) {
	url := postgrestest.URL(t)
	const brokers = 6
	errs := make(chan error, brokers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range brokers {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), postgres.Config{URL: url})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	s := open(t, url)
	var versions, distinct int
	if err := s.View(t.Context(), func(tx registry.Tx) error {
		return postgres.QueryRowForTest(tx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`, &versions, &distinct)
	}); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || versions != distinct {
		t.Errorf("schema_migrations holds %d rows for %d versions; want each version once", versions, distinct)
	}
}

// listener runs s.Listen until the test ends and hands over each wake-up.
type listener struct {
	wakes chan registry.ChangeCursor
	done  chan error
}

func listen(t *testing.T, s *postgres.Store) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &listener{wakes: make(chan registry.ChangeCursor, 100), done: make(chan error, 1)}
	go func() { l.done <- s.Listen(ctx, func(c registry.ChangeCursor) { l.wakes <- c }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-l.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen after its context ended = %v, want context.Canceled", err)
		}
	})
	return l
}

// next waits for the next wake-up.
func (l *listener) next(t *testing.T) registry.ChangeCursor {
	t.Helper()
	select {
	case c := <-l.wakes:
		return c
	case err := <-l.done:
		t.Fatalf("Listen returned %v", err)
	case <-time.After(waitLong):
		t.Fatal("no wake-up within " + waitLong.String())
	}
	return 0
}

// waitLong bounds a wait for something that happens at once when it
// happens at all (generous: the machine may be busy).
const waitLong = 30 * time.Second

// appendEvents appends audit events with these actions in one Update,
// rolled back with errRollback when rollback is set; it returns the
// cursor of the last event appended.
func appendEvents(t *testing.T, s registry.Store, rollback bool, actions ...string) registry.ChangeCursor {
	t.Helper()
	var last int64
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		for _, a := range actions {
			e := &registry.AuditEvent{Time: time.Now(), Action: a}
			if err := tx.AppendAudit(e); err != nil {
				return err
			}
			last = e.ID
		}
		if rollback {
			return errRollback
		}
		return nil
	})
	if rollback && !errors.Is(err, errRollback) || !rollback && err != nil {
		t.Fatalf("Update: %v", err)
	}
	return registry.ChangeCursor(last)
}

var errRollback = errors.New("rolled back on purpose")

// A committed Update that appended audit events wakes every listener, on
// any store of the database, with the cursor of its last event; a rolled
// back one, and one without events, wake nobody (the next wake-up after
// them is the next commit's).
func TestNotifyOnCommitOnly(t *testing.T) {
	url := postgrestest.URL(t)
	writer, reader := open(t, url), open(t, url)
	before := appendEvents(t, writer, false, "before")
	l := listen(t, reader)
	if c := l.next(t); c != before {
		t.Fatalf("first wake-up = %d, want the last cursor committed before listening, %d", c, before)
	}

	first := appendEvents(t, writer, false, "one", "two")
	if c := l.next(t); c != first {
		t.Errorf("wake-up after a commit = %d, want its last event's cursor %d", c, first)
	}
	rolledBack := appendEvents(t, writer, true, "rolled.back")
	if err := writer.Update(t.Context(), func(tx registry.Tx) error { return tx.SetMeta("no.events", "1") }); err != nil {
		t.Fatal(err)
	}
	second := appendEvents(t, writer, false, "three")
	if c := l.next(t); c != second {
		t.Errorf("wake-up after a rollback, an Update without events and a commit = %d, want the commit's %d (the rollback's was %d)",
			c, second, rolledBack)
	}
	// The events are read from the table, from the reader's own position.
	var got []string
	if err := reader.View(t.Context(), func(tx registry.Tx) error {
		evs, _, err := tx.ListAuditChanges(before, 0)
		for _, e := range evs {
			got = append(got, e.Action)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"one", "two", "three"}, got); d != "" {
		t.Errorf("events after the first cursor (-want +got):\n%s", d)
	}
}

// Listen returns an error, not a context's, when its connection is lost:
// the caller resynchronises from its last cursor and listens again, and
// the new Listen's first wake-up covers what committed meanwhile.
func TestListenReturnsWhenConnectionLost(t *testing.T) {
	url := postgrestest.URL(t)
	s := open(t, url)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wakes := make(chan registry.ChangeCursor, 10)
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, func(c registry.ChangeCursor) { wakes <- c }) }()
	select {
	case <-wakes:
	case err := <-done:
		t.Fatalf("Listen: %v", err)
	case <-time.After(waitLong):
		t.Fatal("Listen did not start")
	}
	postgrestest.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, s.ListenerNameForTest())
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Listen after its connection was lost = %v, want a connection error", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Listen did not return after its connection was terminated")
	}

	missed := appendEvents(t, s, false, "while.not.listening")
	l := listen(t, s)
	if c := l.next(t); c != missed {
		t.Errorf("first wake-up of the new Listen = %d, want the cursor of what committed meanwhile, %d", c, missed)
	}
}

// Update runs fn again, in a new transaction, after the server failed the
// transaction as unserialisable or deadlocked, whether fn returned that
// error or went on; the abandoned run leaves nothing. fn's own error is
// returned at once, and a failure that persists ends after MaxAttempts.
func TestUpdateRetriesSerialisationFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     string
		failRuns int  // runs that fail before one goes through
		swallow  bool // fn ignores the failure and returns nil
		wantRuns int
		wantErr  bool
	}{
		{"serialisation failure", "40001", 1, false, 2, false},
		{"deadlock", "40P01", 2, false, 3, false},
		{"fn goes on after the failure", "40001", 1, true, 2, false},
		{"persistent", "40001", 1000, false, postgres.MaxAttempts, true},
		{"not a serialisation failure", "23514", 1, false, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, postgrestest.URL(t))
			runs := 0
			err := s.Update(t.Context(), func(tx registry.Tx) error {
				runs++
				if err := tx.SetMeta("run", strconv.Itoa(runs)); err != nil {
					return err
				}
				if runs <= tc.failRuns {
					if err := postgres.FailForTest(tx, tc.code); err != nil && !tc.swallow {
						return err
					}
				}
				return nil
			})
			if runs != tc.wantRuns || (err != nil) != tc.wantErr {
				t.Fatalf("Update ran fn %d times and returned %v; want %d runs, error: %v", runs, err, tc.wantRuns, tc.wantErr)
			}
			var got string
			if err := s.View(t.Context(), func(tx registry.Tx) error {
				var err error
				got, err = tx.GetMeta("run")
				return err
			}); err != nil && !errors.Is(err, registry.ErrNotFound) {
				t.Fatal(err)
			}
			want := strconv.Itoa(tc.wantRuns)
			if tc.wantErr {
				want = ""
			}
			if got != want {
				t.Errorf("committed run = %q, want %q", got, want)
			}
		})
	}
}

// A unique or foreign key violation undoes its statement only: fn goes on
// in the same transaction, and what it wrote before and after commits.
func TestConstraintViolationLeavesTransactionUsable(t *testing.T) {
	s := open(t, postgrestest.URL(t))
	err := s.Update(t.Context(), func(tx registry.Tx) error {
		if err := tx.CreateAccount(&registry.Account{ID: "a", Name: "A"}); err != nil {
			return err
		}
		if err := tx.CreateAccount(&registry.Account{ID: "b", Name: "a"}); !errors.Is(err, registry.ErrConflict) {
			return fmt.Errorf("a sibling's name = %v, want ErrConflict", err)
		}
		if err := tx.CreateUser(&registry.User{ID: "u", AccountID: "missing"}); !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("a user of a missing account = %v, want ErrNotFound", err)
		}
		return tx.CreateAccount(&registry.Account{ID: "c", Name: "C"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := s.View(t.Context(), func(tx registry.Tx) error {
		as, err := tx.ListAccounts()
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a", "c"}, ids); d != "" {
		t.Errorf("accounts (-want +got):\n%s", d)
	}
}

// Two stores on one database stand for two brokers. Updates are
// serialised across them (the write lock is the database's): an account's
// quota holds, a use-limited key value is consumed exactly as many times
// as allowed, and a refresh token is consumed once.
func TestAcrossBrokers(t *testing.T) {
	url := postgrestest.URL(t)
	brokers := []*postgres.Store{open(t, url), open(t, url)}

	// The suite's checks, each on a database of its own.
	for _, tc := range []struct {
		name  string
		check func(context.Context, registry.Store) error
	}{
		{"quota", storetest.CheckQuotaRace},
		{"decisions", storetest.CheckDecideRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := postgrestest.URL(t)
			if err := tc.check(t.Context(), &alternating{stores: []*postgres.Store{open(t, url), open(t, url)}}); err != nil {
				t.Error(err)
			}
		})
	}

	now := time.Now()
	if err := brokers[0].Update(t.Context(), func(tx registry.Tx) error {
		if err := tx.CreateAccount(&registry.Account{ID: "acct", Name: "across brokers"}); err != nil {
			return err
		}
		if err := tx.CreateAPIKey(&registry.APIKey{ID: "key", AccountID: "acct"}); err != nil {
			return err
		}
		if err := tx.CreateKeyValue(&registry.KeyValue{ID: "value", KeyID: "key", PublicID: "pub", UseLimit: 3}); err != nil {
			return err
		}
		return tx.CreateRefreshToken(&registry.RefreshToken{ID: "rt", Hash: []byte("hash"), ChainID: "chain",
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
	race := func(t *testing.T, n int, refused error, fn func(tx registry.Tx) error) (ok int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				err := brokers[i%len(brokers)].Update(t.Context(), fn)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, refused):
					t.Errorf("Update: %v", err)
				}
			})
		}
		wg.Wait()
		return ok
	}
	t.Run("use limit", func(t *testing.T) {
		ok := race(t, 16, registry.ErrLimitReached, func(tx registry.Tx) error {
			return tx.RecordKeyUse("value", now, "192.0.2.1", true)
		})
		if ok != 3 {
			t.Errorf("%d uses of a value limited to 3 succeeded across two brokers", ok)
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		ok := race(t, 16, registry.ErrConflict, func(tx registry.Tx) error {
			_, err := tx.ConsumeRefreshToken([]byte("hash"), now)
			return err
		})
		if ok != 1 {
			t.Errorf("a refresh token was consumed %d times across two brokers, want once", ok)
		}
	})
}

// alternating is one registry.Store over several: each Update and View goes
// to the next of them in turn, as requests spread over brokers.
type alternating struct {
	stores []*postgres.Store
	n      atomic.Int64
}

func (a *alternating) next() registry.Store {
	return a.stores[int(a.n.Add(1))%len(a.stores)]
}

func (a *alternating) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return a.next().Update(ctx, fn)
}

func (a *alternating) View(ctx context.Context, fn func(registry.Tx) error) error {
	return a.next().View(ctx, fn)
}

func (a *alternating) Close() error { return nil }

// The serialisation checks of the conformance suite fail on this store
// without its write lock: each Update then reads before any of the racing
// ones writes, as PostgreSQL at READ COMMITTED allows.
func TestSerialisationChecksCatchStoreWithoutLock(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(context.Context, registry.Store) error
	}{
		{"QuotaRace", storetest.CheckQuotaRace},
		{"DecideRace", storetest.CheckDecideRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.OpenUnserialisedForTest(t.Context(), postgrestest.URL(t)+"&pool_max_conns=64")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = tc.check(t.Context(), s)
			if !errors.Is(err, storetest.ErrNotSerialised) {
				t.Errorf("%s on a store without the write lock = %v, want an error wrapping %q",
					tc.name, err, storetest.ErrNotSerialised)
			}
		})
	}
}

// A database migrated by a newer binary is refused, not written to.
func TestNewerSchemaRefused(t *testing.T) {
	url := postgrestest.URL(t)
	s := open(t, url)
	if err := s.Update(t.Context(), func(tx registry.Tx) error {
		return postgres.ExecForTest(tx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`)
	}); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(t.Context(), postgres.Config{URL: url})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("Open of a newer schema = %v, want it refused as newer", err)
	}
}

func TestOpenErrors(t *testing.T) {
	server := postgrestest.ServerURL(t)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"empty", "", "URL is empty"},
		{"not a URL", "postgres://[::1", "postgres.Open"},
		{"missing schema", server + "&search_path=no_such_schema", "create it"},
		// A closed port: the error must not carry the password.
		{"unreachable", "postgres://edgetrust:s3cret-password@127.0.0.1:1/edgetrust?sslmode=disable&connect_timeout=5", "postgres.Open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(t.Context(), postgres.Config{URL: tc.url})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open's error carries the password: %v", err)
			}
		})
	}
}
