package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestWatchUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"unknown type", []string{"watch", "--type", "endpoint.approved"}, 2, "", "endpoint.pending"},
		{"bad after", []string{"watch", "--after", "abc"}, 2, "", "--after"},
		{"argument", []string{"watch", "x"}, 2, "", "unexpected argument"},
		{"not signed in", []string{"watch"}, 1, "", "not signed in"},
		{"help", []string{"watch", "--help"}, 0, "--type", ""},
	})
}

// syncBuffer is a buffer written by the command while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the complete lines written so far.
func (s *syncBuffer) lines() []string {
	out := strings.SplitAfter(s.String(), "\n")
	var full []string
	for _, l := range out {
		if strings.HasSuffix(l, "\n") {
			full = append(full, strings.TrimSuffix(l, "\n"))
		}
	}
	return full
}

// watch -o json prints one JSON object per line with the contract's fields,
// reconnects by itself after the connection breaks without losing or
// repeating an event, and exits 0 when interrupted.
func TestWatchPrintsEventsAndReconnects(t *testing.T) {
	b := newBroker(t)
	env := map[string]string{"EDGETRUST_CONFIG_DIR": filepath.Join(t.TempDir(), "cfg")}
	if r := runCLI(t, env, adminPassword+"\n", "login", "--server", b.srv.URL, "--ca-file", b.caFile, "--username", "admin", "--password-stdin"); r.code != 0 {
		t.Fatalf("login: %d %s", r.code, r.stderr)
	}
	r := runCLI(t, env, "", "keys", "create", "--name", "watched", "-o", "json")
	key := decodeJSON[api.CreatedKey](t, r.stdout)
	from, err := b.reg.LastChange(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"watch", "-o", "json", "--after", strconv.FormatInt(int64(from), 10)},
			strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	}()
	waitLines := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(stdout.lines()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d lines within 20s, want %d; stdout %q, stderr %q", len(stdout.lines()), n, stdout.String(), stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		return stdout.lines()
	}

	first := b.register(t, key.Value, "one")
	waitLines(1)
	b.srv.CloseClientConnections() // the stream breaks; watch reconnects
	second := b.register(t, key.Value, "two")
	lines := waitLines(2)

	type row struct{ Type, EndpointID, AccountID string }
	var got []row
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", l, err)
		}
		at, _ := m["at"].(string)
		if _, err := time.Parse(time.RFC3339, at); err != nil || m["id"] == "" {
			t.Errorf("line %q: want an id and an RFC 3339 time", l)
		}
		got = append(got, row{m["type"].(string), m["endpoint_id"].(string), m["account_id"].(string)})
	}
	want := []row{{"endpoint.pending", first, key.AccountID}, {"endpoint.pending", second, key.AccountID}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	cancel() // as SIGINT does through main's context
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d after the interrupt, want 0; stderr %q", c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not stop after the interrupt")
	}
	if n := len(stdout.lines()); n != 2 {
		t.Errorf("%d lines, want 2 (none repeated): %q", n, stdout.String())
	}
	if !strings.Contains(stderr.String(), "reconnected") {
		t.Errorf("stderr %q does not say it reconnected", stderr.String())
	}
}
