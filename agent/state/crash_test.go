package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// rewriterEnv makes the test binary a helper process that rewrites
// state.json in the named directory forever (see TestMain).
const rewriterEnv = "EDGETRUST_TEST_STATE_REWRITER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(rewriterEnv); dir != "" {
		os.Exit(rewriteForever(dir))
	}
	os.Exit(m.Run())
}

// rewriteForever saves version n, n+1, ... of the state, starting after the
// version on disk, and prints "saved N" once each Save has returned. It runs
// until killed.
func rewriteForever(dir string) int {
	st, err := Load(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	n, err := strconv.Atoi(st.EndpointID)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for {
		n++
		if err := Save(dir, version(n)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		if _, err := fmt.Fprintf(os.Stdout, "saved %d\n", n); err != nil {
			return 3
		}
	}
}

// version is the n-th state. Its size varies widely, so a torn or mixed
// file cannot pass for a whole one.
func version(n int) State {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	return State{
		EndpointID: strconv.Itoa(n), State: Trusted,
		LastError:   strings.Repeat(string(rune('a'+n%26)), (n*7919)%6000),
		AccessToken: "at-" + strconv.Itoa(n), AccessExpiresAt: at,
		RefreshToken: "rt-" + strconv.Itoa(n), RefreshExpiresAt: at.Add(time.Hour),
		UpdatedAt: at,
	}
}

// TestKilledWhileRewriting kills a process that rewrites state.json in a
// loop (SIGKILL, at random moments) until 1,000 rewrites have happened; after
// every kill the file must be exactly the last version the process finished
// saving or the one it was writing, never a torn, empty or mixed file.
func TestKilledWhileRewriting(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL of a helper process is tested on Unix")
	}
	const rewrites = 1000
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	dir := t.TempDir()
	if err := Save(dir, version(0)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	last, kills, midWrite := 0, 0, 0
	for last < rewrites {
		if time.Now().After(deadline) {
			t.Fatalf("only %d rewrites after 3 minutes (%d kills)", last, kills)
		}
		acked := killRewriter(t, dir, last, 1+rng.IntN(40), time.Duration(rng.IntN(1000))*time.Microsecond)
		kills++
		if n, err := atomicfile.RemoveTemps(filepath.Join(dir, StateFile)); err != nil {
			t.Fatal(err)
		} else if n > 0 {
			midWrite++
		}
		got, err := Load(dir)
		if err != nil {
			t.Fatalf("after kill %d (last saved version %d): %v", kills, acked, err)
		}
		n, err := strconv.Atoi(got.EndpointID)
		if err != nil || (n != acked && n != acked+1) {
			t.Fatalf("after kill %d the file holds version %q; want %d (last saved) or %d (being written)", kills, got.EndpointID, acked, acked+1)
		}
		if diff := cmp.Diff(version(n), got); diff != "" {
			t.Fatalf("after kill %d version %d is not whole (-want +got):\n%s", kills, n, diff)
		}
		last = n
	}
	t.Logf("%d rewrites, %d kills, %d of them inside a write (temporary file left)", last, kills, midWrite)
	// Kills that land only between writes would not test atomicity at all.
	if midWrite == 0 {
		t.Fatalf("none of %d kills landed inside a write", kills)
	}
}

// killRewriter starts the rewriter, lets it report at least saves versions,
// waits delay more and kills it. It returns the last version the process
// reported saved (from, if none).
func killRewriter(t *testing.T, dir string, from, saves int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), rewriterEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := from
	sc := bufio.NewScanner(out)
	read := func() bool {
		if !sc.Scan() {
			return false
		}
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "saved "))
		if err != nil {
			t.Fatalf("rewriter printed %q", sc.Text())
		}
		acked = n
		return true
	}
	for i := 0; i < saves; i++ {
		if !read() {
			cmd.Wait()
			t.Fatalf("rewriter ended by itself after version %d: %s", acked, stderr.String())
		}
	}
	time.Sleep(delay) // a random moment, not a wait for anything
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for read() { // what it printed before it died
	}
	io.Copy(io.Discard, out)
	cmd.Wait()
	return acked
}

func countTemps(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			n++
		}
	}
	return n, err
}

func TestOpen(t *testing.T) {
	other := "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41"
	tests := []struct {
		name string
		// prepare fills dir; it returns the client id of the identity it
		// wrote, if any.
		prepare func(t *testing.T, dir string) string
		corrupt string // "" = Open succeeds; else text of the ErrCorrupt error
	}{
		{"fresh directory", func(t *testing.T, dir string) string { return "" }, ""},
		{"identity only", func(t *testing.T, dir string) string { return mustIdentity(t, dir) }, ""},
		{"identity and its state", func(t *testing.T, dir string) string {
			id := mustIdentity(t, dir)
			mustSave(t, dir, State{EndpointID: id, State: Trusted})
			return id
		}, ""},
		{"state of an unregistered agent without identity", func(t *testing.T, dir string) string {
			mustSave(t, dir, State{State: Unregistered, LastError: "refused"})
			return ""
		}, ""},
		{"identity lost", func(t *testing.T, dir string) string {
			mustSave(t, dir, State{EndpointID: other, State: Trusted})
			return ""
		}, "is missing but"},
		{"identity lost while refused", func(t *testing.T, dir string) string {
			mustSave(t, dir, State{EndpointID: other, State: Unregistered})
			return ""
		}, "is missing but"},
		{"files of two endpoints", func(t *testing.T, dir string) string {
			id := mustIdentity(t, dir)
			mustSave(t, dir, State{EndpointID: other, State: Pending})
			return id
		}, "holds client id"},
		{"leftovers of killed writes", func(t *testing.T, dir string) string {
			id := mustIdentity(t, dir)
			mustSave(t, dir, State{EndpointID: id, State: Trusted})
			for _, f := range []string{".state.json.tmp-1", ".identity.json.tmp-2"} {
				os.WriteFile(filepath.Join(dir, f), []byte("{"), 0o600)
			}
			return id
		}, ""},
		{"empty state", func(t *testing.T, dir string) string {
			id := mustIdentity(t, dir)
			os.WriteFile(filepath.Join(dir, StateFile), nil, 0o600)
			return id
		}, "file is empty"},
		{"empty identity", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, IdentityFile), nil, 0o600)
			return ""
		}, "file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			wantID := tt.prepare(t, dir)
			before := snapshot(t, dir)
			id, st, err := Open(dir)
			if tt.corrupt != "" {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.corrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt with %q", err, tt.corrupt)
				}
				// Nothing is created or replaced.
				if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
					t.Errorf("files changed (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if n, err := countTemps(dir); n != 0 || err != nil {
				t.Errorf("%d temporary files left after Open (%v)", n, err)
			}
			if wantID != "" && id.ClientID != wantID {
				t.Errorf("client id %s, want the stored %s", id.ClientID, wantID)
			}
			if st.EndpointID != "" && st.EndpointID != id.ClientID {
				t.Errorf("state names %s, identity %s", st.EndpointID, id.ClientID)
			}
			again, err := LoadIdentity(dir)
			if err != nil || again.ClientID != id.ClientID {
				t.Errorf("identity on disk %+v, %v; want %s", again.ClientID, err, id.ClientID)
			}
		})
	}
}

func mustIdentity(t *testing.T, dir string) string {
	t.Helper()
	id, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id.ClientID
}

func mustSave(t *testing.T, dir string, st State) {
	t.Helper()
	if err := Save(dir, st); err != nil {
		t.Fatal(err)
	}
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}
