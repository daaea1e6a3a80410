package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
)

var errFail = errors.New("fn failed on purpose")

// metaKeys lists the meta keys visible to a View.
func metaKeys(t *testing.T, s *sqlite.Store, keys []string) map[string]bool {
	t.Helper()
	got, err := visible(t.Context(), s, keys)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return got
}

// visible lists the meta keys visible to a View.
func visible(ctx context.Context, s *sqlite.Store, keys []string) (map[string]bool, error) {
	got := map[string]bool{}
	err := s.View(ctx, func(tx registry.Tx) error {
		for _, k := range keys {
			_, err := tx.GetMeta(k)
			switch {
			case err == nil:
				got[k] = true
			case !errors.Is(err, registry.ErrNotFound):
				return err
			}
		}
		return nil
	})
	return got, err
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// blockWriter starts an Update whose fn waits until release is called, and
// returns once that fn runs: the writer takes nothing else meanwhile.
func blockWriter(t *testing.T, s *sqlite.Store) (release func() error) {
	t.Helper()
	running := make(chan struct{})
	unblock := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- s.Update(context.Background(), func(tx registry.Tx) error {
			close(running)
			<-unblock
			return tx.SetMeta("blocker", "1")
		})
	}()
	<-running
	return func() error {
		close(unblock)
		return <-result
	}
}

// TestGroupCommitSemantics runs many concurrent Updates, a third of which
// fail after writing. Each fn reads a counter and writes it back plus one,
// so fns that ran interleaved or saw a failed fn's writes would show.
func TestGroupCommitSemantics(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gc.db")
	s := open(t, p)
	defer s.Close()
	const n = 96
	var (
		mu       sync.Mutex
		seen     []int            // counter values read by fns that succeeded
		returned = map[int]bool{} // Updates that returned nil
		sameRun  atomic.Int64     // fns that ran after another fn of their batch
	)
	// batchKeys: per batch, the keys written by its fns that returned nil.
	batchKeys := map[uint64][]string{}
	key := func(i int) string { return "k" + strconv.Itoa(i) }
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(t.Context(), func(tx registry.Tx) error {
				// What a View sees now: every Update that returned, and
				// none of the earlier fns of this batch (not committed).
				mu.Lock()
				var done []string
				for j := range returned {
					done = append(done, key(j))
				}
				earlier := slices.Clone(batchKeys[sqlite.BatchForTest(tx)])
				mu.Unlock()
				if len(earlier) > 0 {
					sameRun.Add(1)
				}
				vis, err := visible(t.Context(), s, append(done, earlier...))
				if err != nil {
					return err
				}
				for _, k := range done {
					if !vis[k] {
						t.Errorf("fn %d: %s returned from Update but is not visible", i, k)
					}
				}
				for _, k := range earlier {
					if vis[k] {
						t.Errorf("fn %d: %s is visible before its batch committed", i, k)
					}
				}

				v, err := tx.GetMeta("counter")
				if errors.Is(err, registry.ErrNotFound) {
					v, err = "0", nil
				}
				if err != nil {
					return err
				}
				c, err := strconv.Atoi(v)
				if err != nil {
					return err
				}
				if err := tx.SetMeta("counter", strconv.Itoa(c+1)); err != nil {
					return err
				}
				if err := tx.SetMeta(key(i), "1"); err != nil {
					return err
				}
				if i%3 == 0 {
					return fmt.Errorf("fn %d: %w", i, errFail)
				}
				mu.Lock()
				seen = append(seen, c)
				b := sqlite.BatchForTest(tx)
				batchKeys[b] = append(batchKeys[b], key(i))
				mu.Unlock()
				return nil
			})
			if errs[i] == nil {
				mu.Lock()
				returned[i] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	var all, wantVisible []string
	for i, err := range errs {
		all = append(all, key(i))
		if i%3 == 0 {
			if !errors.Is(err, errFail) {
				t.Errorf("Update %d returned %v, want its fn's error", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Update %d: %v", i, err)
		}
		wantVisible = append(wantVisible, key(i))
	}
	got := metaKeys(t, s, all)
	want := map[string]bool{}
	for _, k := range wantVisible {
		want[k] = true
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("visible keys (-want +got):\n%s", d)
	}
	// The successful fns ran one after another: they read 0, 1, 2, ...
	slices.Sort(seen)
	var wantSeen []int
	for i := range len(wantVisible) {
		wantSeen = append(wantSeen, i)
	}
	if d := cmp.Diff(wantSeen, seen); d != "" {
		t.Errorf("counter values read by the successful fns (-want +got):\n%s", d)
	}
	if c := metaKeys(t, s, []string{"counter"}); !c["counter"] {
		t.Error("counter missing")
	}
	t.Logf("%d Updates, %d commits, %d fns ran after another fn of their batch",
		n, sqlite.CommitsForTest(s), sameRun.Load())

	// Everything acknowledged survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, p)
	defer s2.Close()
	if d := cmp.Diff(want, metaKeys(t, s2, all)); d != "" {
		t.Errorf("visible keys after reopening (-want +got):\n%s", d)
	}
}

// TestGroupCommitGroups checks that Updates queued while the writer is busy
// share one COMMIT, within the batch bound.
func TestGroupCommitGroups(t *testing.T) {
	for _, n := range []int{64, 2*sqlite.MaxBatchForTest + 10} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "groups.db")
			s := open(t, p)
			defer s.Close()
			release := blockWriter(t, s)
			before := sqlite.CommitsForTest(s)
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					errs[i] = s.Update(t.Context(), func(tx registry.Tx) error {
						return tx.SetMeta("g"+strconv.Itoa(i), "1")
					})
				})
			}
			waitFor(t, "every Update to queue", func() bool { return sqlite.SendingForTest(s) == int64(n) })
			if err := release(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Update %d: %v", i, err)
				}
			}
			// The blocker's transaction takes Updates too.
			commits := sqlite.CommitsForTest(s) - before
			t.Logf("%d Updates and the blocker in %d commits", n, commits)
			minCommits := int64((n + 1 + sqlite.MaxBatchForTest - 1) / sqlite.MaxBatchForTest)
			if commits < minCommits || commits >= int64(n) {
				t.Errorf("%d Updates and the blocker took %d commits, want at least %d (the batch bound) and fewer than %d",
					n, commits, minCommits, n)
			}
			var keys []string
			for i := range n {
				keys = append(keys, "g"+strconv.Itoa(i))
			}
			if got := metaKeys(t, s, keys); len(got) != n {
				t.Errorf("%d of %d keys visible", len(got), n)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := open(t, p)
			defer s2.Close()
			if got := metaKeys(t, s2, keys); len(got) != n {
				t.Errorf("after reopening: %d of %d keys visible", len(got), n)
			}
		})
	}
}

// TestGroupCommitPanicAndGoexit: an fn that panics or calls runtime.Goexit
// in a batch loses its own writes only; the panic reaches its caller.
func TestGroupCommitPanicAndGoexit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "panic.db"))
	defer s.Close()
	release := blockWriter(t, s)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	recovered := make([]any, n)
	for i := range n {
		wg.Go(func() {
			defer func() { recovered[i] = recover() }()
			errs[i] = s.Update(t.Context(), func(tx registry.Tx) error {
				if err := tx.SetMeta("p"+strconv.Itoa(i), "1"); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					panic(fmt.Sprintf("boom %d", i))
				case 2:
					runtime.Goexit()
				}
				return nil
			})
		})
	}
	waitFor(t, "every Update to queue", func() bool { return sqlite.SendingForTest(s) == n })
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var keys []string
	want := map[string]bool{}
	for i := range n {
		k := "p" + strconv.Itoa(i)
		keys = append(keys, k)
		switch i % 4 {
		case 1:
			if r := recovered[i]; r != fmt.Sprintf("boom %d", i) {
				t.Errorf("Update %d: recovered %v, want its panic", i, r)
			}
		case 2:
			// Goexit: neither a return nor a panic.
		default:
			if errs[i] != nil || recovered[i] != nil {
				t.Errorf("Update %d: %v, panic %v", i, errs[i], recovered[i])
			}
			want[k] = true
		}
	}
	if d := cmp.Diff(want, metaKeys(t, s, keys)); d != "" {
		t.Errorf("visible keys (-want +got):\n%s", d)
	}
	// The writer still works.
	if err := s.Update(t.Context(), func(tx registry.Tx) error { return tx.SetMeta("after", "1") }); err != nil {
		t.Fatalf("Update after panics: %v", err)
	}
}

// TestGroupCommitContext covers contexts that end while an Update waits for
// the writer, and while its fn runs.
func TestGroupCommitContext(t *testing.T) {
	t.Run("canceled while queued", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "ctx.db"))
		defer s.Close()
		release := blockWriter(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		called := atomic.Bool{}
		result := make(chan error, 1)
		go func() {
			result <- s.Update(ctx, func(tx registry.Tx) error {
				called.Store(true)
				return tx.SetMeta("queued", "1")
			})
		}()
		waitFor(t, "the Update to queue", func() bool { return sqlite.SendingForTest(s) == 1 })
		cancel()
		if err := <-result; !errors.Is(err, context.Canceled) {
			t.Errorf("Update returned %v, want context.Canceled", err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		if called.Load() {
			t.Error("fn of a canceled Update ran")
		}
		if got := metaKeys(t, s, []string{"queued", "blocker"}); !cmp.Equal(got, map[string]bool{"blocker": true}) {
			t.Errorf("visible keys = %v, want only blocker", got)
		}
	})

	t.Run("canceled while fn runs", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "ctx.db"))
		defer s.Close()
		release := blockWriter(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var wg sync.WaitGroup
		var errCanceled, errOther error
		var stmtErr error
		wg.Go(func() {
			errCanceled = s.Update(ctx, func(tx registry.Tx) error {
				if err := tx.SetMeta("before-cancel", "1"); err != nil {
					return err
				}
				cancel()
				stmtErr = tx.SetMeta("after-cancel", "1")
				return stmtErr
			})
		})
		wg.Go(func() {
			errOther = s.Update(t.Context(), func(tx registry.Tx) error { return tx.SetMeta("other", "1") })
		})
		waitFor(t, "both Updates to queue", func() bool { return sqlite.SendingForTest(s) == 2 })
		if err := release(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if !errors.Is(stmtErr, context.Canceled) || !errors.Is(errCanceled, context.Canceled) {
			t.Errorf("statement after cancel: %v; Update: %v; want context.Canceled", stmtErr, errCanceled)
		}
		if errOther != nil {
			t.Errorf("the other Update of the batch: %v", errOther)
		}
		got := metaKeys(t, s, []string{"before-cancel", "after-cancel", "other"})
		if d := cmp.Diff(map[string]bool{"other": true}, got); d != "" {
			t.Errorf("visible keys (-want +got):\n%s", d)
		}
	})
}

// TestCloseWaitsForUpdates: Close lets the Update in progress commit, and
// Update fails after Close.
func TestCloseWaitsForUpdates(t *testing.T) {
	p := filepath.Join(t.TempDir(), "close.db")
	s := open(t, p)
	release := blockWriter(t, s)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if err := release(); err != nil {
		t.Fatalf("Update in progress at Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Update(t.Context(), func(tx registry.Tx) error { return nil }); err == nil {
		t.Error("Update after Close succeeded")
	}
	if err := s.View(t.Context(), func(tx registry.Tx) error { return nil }); err == nil {
		t.Error("View after Close succeeded")
	}
	s2 := open(t, p)
	defer s2.Close()
	if got := metaKeys(t, s2, []string{"blocker"}); !got["blocker"] {
		t.Error("the Update in progress at Close was lost")
	}
}
