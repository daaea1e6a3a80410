package integration

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The contract of issue 13: "edgetrustctl watch -o json" prints one JSON
// object per line — at least type, endpoint_id (the client id), account_id
// and an RFC 3339 "at" — for an agent's registration and its approval,
// and exits 0 on SIGINT.
func TestWatchPrintsRegistrationsAndExitsOnSIGINT(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey()

	watch := adm.command("watch", "-o", "json")
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	watch.Stdout, watch.Stderr = stdout, stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = watch.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			watch.Process.Kill()
			<-done
		}
		checkRaces(t, "edgetrustctl watch", stderr)
	})
	waitFor(t, settle, "watch to connect", func() bool { return strings.Contains(stderr.String(), "watching events") })

	ag := startAgent(t, b, k.Value)
	id := ag.waitState(t, "pending", settle).EndpointID
	adm.run("endpoints", "approve", id)

	type event struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		EndpointID string `json:"endpoint_id"`
		AccountID  string `json:"account_id"`
		At         string `json:"at"`
	}
	var events []event
	waitFor(t, settle, "the pending and trusted events", func() bool {
		events = events[:0]
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var ev event
			if l != "" && json.Unmarshal([]byte(l), &ev) == nil {
				events = append(events, ev)
			}
		}
		return len(events) >= 2
	})
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || len(events) != 2 {
		t.Fatalf("stdout %q: want two JSON lines", stdout.String())
	}
	for i, want := range []string{"endpoint.pending", "endpoint.trusted"} {
		ev := events[i]
		if _, err := time.Parse(time.RFC3339, ev.At); err != nil || ev.Type != want || ev.EndpointID != id || ev.AccountID != k.AccountID || ev.ID == "" {
			t.Errorf("event %d = %+v, want %s of %s in %s at an RFC 3339 time", i, ev, want, id, k.AccountID)
		}
	}

	if err := watch.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Errorf("watch after SIGINT: %v (want exit 0); stderr %s", waitErr, stderr)
		}
	case <-time.After(settle):
		t.Fatal("watch did not exit after SIGINT")
	}
}
