package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// The change cursor of the audit log (registry.AuditTx.ListAuditChanges).

// errCursor marks a change cursor that skipped, repeated or invented an
// event.
var errCursor = errors.New("the change cursor skipped or repeated an audit event")

// readChanges reads the audit events after c in one View, limit at a time,
// until none is left, and returns them and the last cursor.
func readChanges(ctx context.Context, s registry.Store, c registry.ChangeCursor, limit int) ([]registry.AuditEvent, registry.ChangeCursor, error) {
	var out []registry.AuditEvent
	err := s.View(ctx, func(tx registry.Tx) error {
		for {
			evs, next, err := tx.ListAuditChanges(c, limit)
			if err != nil {
				return fmt.Errorf("ListAuditChanges: %w", err)
			}
			if len(evs) == 0 {
				if next != c {
					return fmt.Errorf("ListAuditChanges(%d) returned no event and moved the cursor to %d", c, next)
				}
				return nil
			}
			if limit > 0 && len(evs) > limit {
				return fmt.Errorf("ListAuditChanges(%d, %d) returned %d events", c, limit, len(evs))
			}
			// Each row names its own place: the last one's is the cursor
			// returned, and going on from an earlier one returns the rest.
			if evs[len(evs)-1].Cursor != next {
				return fmt.Errorf("%w: the last row's cursor %d is not the cursor returned, %d", errCursor, evs[len(evs)-1].Cursor, next)
			}
			if len(evs) > 1 {
				rest, _, err := tx.ListAuditChanges(evs[0].Cursor, 0)
				if err != nil {
					return fmt.Errorf("ListAuditChanges: %w", err)
				}
				if len(rest) < len(evs)-1 || rest[0].ID != evs[1].ID {
					return fmt.Errorf("%w: going on from the first row's cursor does not return the second row", errCursor)
				}
			}
			for i := range evs {
				evs[i].Cursor = 0 // compared apart from the rows
			}
			out, c = append(out, evs...), next
		}
	})
	return out, c, err
}

// lastChangeCursor reads the end of the log in one View.
func lastChangeCursor(ctx context.Context, s registry.Store) (registry.ChangeCursor, error) {
	var c registry.ChangeCursor
	err := s.View(ctx, func(tx registry.Tx) error {
		var err error
		c, err = tx.LastChangeCursor()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("LastChangeCursor: %w", err)
	}
	return c, nil
}

// testLastChangeCursor: reading from the end of the log returns exactly
// the events committed after it was read, on an empty log and a full one.
func testLastChangeCursor(t *testing.T, s registry.Store) {
	for _, batch := range [][]registry.AuditEvent{
		{{Time: at(0), Action: "one"}},
		{{Time: at(time.Second), Action: "two"}, {Time: at(time.Second), Action: "three"}},
	} {
		end, err := lastChangeCursor(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		if got, c, err := readChanges(t.Context(), s, end, 0); err != nil || len(got) != 0 || c != end {
			t.Fatalf("reading from the end %d = %d events, cursor %d, %v; want none", end, len(got), c, err)
		}
		appendAudit(t, s, batch)
		got, _, err := readChanges(t.Context(), s, end, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(batch, got); d != "" {
			t.Errorf("events after the end read before they were appended (-want +got):\n%s", d)
		}
	}
}

func testChangeCursor(t *testing.T, s registry.Store) {
	batches := [][]registry.AuditEvent{
		{{Time: at(0), Action: "one"}, {Time: at(0), Action: "two"}},
		{{Time: at(time.Second), Action: "three"}},
		{{Time: at(2 * time.Second), Action: "four"}, {Time: at(2 * time.Second), Action: "five"}},
	}
	var all []registry.AuditEvent
	for _, b := range batches {
		appendAudit(t, s, b)
		all = append(all, b...)
	}
	for _, limit := range []int{0, -1, 1, 2, 100} {
		got, c, err := readChanges(t.Context(), s, 0, limit)
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if d := diff(all, got); d != "" {
			t.Errorf("limit %d: events from the start mismatch (-want +got):\n%s", limit, d)
		}
		if c == 0 {
			t.Errorf("limit %d: cursor after reading everything is the zero cursor", limit)
		}
	}

	_, c, err := readChanges(t.Context(), s, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	more := []registry.AuditEvent{{Time: at(time.Hour), Action: "six"}}
	appendAudit(t, s, more)
	got, c2, err := readChanges(t.Context(), s, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(more, got); d != "" {
		t.Errorf("events after the cursor mismatch (-want +got):\n%s", d)
	}
	got, c3, err := readChanges(t.Context(), s, c2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || c3 != c2 {
		t.Errorf("reading again from the last cursor = %d events, cursor %d; want none, cursor %d", len(got), c3, c2)
	}

	// A rolled-back Update leaves nothing for the cursor.
	err = s.Update(t.Context(), func(tx registry.Tx) error {
		if err := tx.AppendAudit(&registry.AuditEvent{Time: at(time.Hour), Action: "rolled.back"}); err != nil {
			return err
		}
		return errRollback
	})
	wantErr(t, "rolled back Update", err, errRollback)
	last := []registry.AuditEvent{{Time: at(2 * time.Hour), Action: "seven"}}
	appendAudit(t, s, last)
	if got, _, err = readChanges(t.Context(), s, c2, 1); err != nil {
		t.Fatal(err)
	}
	if d := diff(last, got); d != "" {
		t.Errorf("events after a rollback mismatch (-want +got):\n%s", d)
	}
}

// overlapWait bounds how long checkChangeCursorOverlap gives the second
// Update to commit while the first is open. A store that serialises
// writers never lets it (SQLite), and the check then runs the serial case;
// a store that runs writers at once commits it in well under this.
const overlapWait = 250 * time.Millisecond

func testChangeCursorOverlap(t *testing.T, s registry.Store) {
	if err := checkChangeCursorOverlap(t.Context(), s); err != nil {
		t.Error(err)
	}
}

// checkChangeCursorOverlap runs two Updates that overlap: A appends first
// (and so, on a store handing out ids at insert, gets the lower id), then
// waits while B appends and, where the store lets it, commits; a reader
// reads the changes between the two commits and again after both. Across
// the two reads it must get each of A's and B's events exactly once. A
// store whose cursor is an id handed out at insert returns B's event to the
// first read, moves the cursor past A's id, and never returns A's.
func checkChangeCursorOverlap(ctx context.Context, s registry.Store) error {
	if err := s.Update(ctx, func(tx registry.Tx) error {
		return tx.AppendAudit(&registry.AuditEvent{Time: at(0), Action: "before"})
	}); err != nil {
		return fmt.Errorf("appending: %w", err)
	}
	_, c0, err := readChanges(ctx, s, 0, 0)
	if err != nil {
		return err
	}

	appended, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go func() {
		aDone <- s.Update(ctx, func(tx registry.Tx) error {
			if err := tx.AppendAudit(&registry.AuditEvent{Time: at(time.Second), Action: "a"}); err != nil {
				return err
			}
			close(appended)
			<-release
			return nil
		})
	}()
	select {
	case <-appended:
	case err := <-aDone:
		return fmt.Errorf("update A: %v", err)
	}
	go func() {
		bDone <- s.Update(ctx, func(tx registry.Tx) error {
			return tx.AppendAudit(&registry.AuditEvent{Time: at(2 * time.Second), Action: "b"})
		})
	}()
	bFirst := false
	select {
	case err := <-bDone:
		if err != nil {
			return fmt.Errorf("update B: %v", err)
		}
		bFirst = true
	case <-time.After(overlapWait):
	}
	first, c1, err := readChanges(ctx, s, c0, 0)
	if err != nil {
		return err
	}
	end, err := lastChangeCursor(ctx, s) // A still open: A's event is after the end
	if err != nil {
		return err
	}
	unblock()
	if err := <-aDone; err != nil {
		return fmt.Errorf("update A: %v", err)
	}
	if !bFirst {
		if err := <-bDone; err != nil {
			return fmt.Errorf("update B: %v", err)
		}
	}
	second, _, err := readChanges(ctx, s, c1, 0)
	if err != nil {
		return err
	}

	var got []string
	for _, e := range append(first, second...) {
		got = append(got, e.Action)
	}
	slices.Sort(got)
	for _, e := range first {
		if e.Action == "a" {
			return fmt.Errorf("%w: the read made while A was open returned A's event", errCursor)
		}
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		return fmt.Errorf("%w: reading between the commits (B committed first: %v) and after them returned %q, want a and b once each",
			errCursor, bFirst, got)
	}
	afterEnd, _, err := readChanges(ctx, s, end, 0)
	if err != nil {
		return err
	}
	got = got[:0]
	for _, e := range afterEnd {
		got = append(got, e.Action)
	}
	slices.Sort(got)
	if want := map[bool][]string{true: {"a"}, false: {"a", "b"}}[bFirst]; !slices.Equal(got, want) {
		return fmt.Errorf("%w: reading from LastChangeCursor taken while A was open (B committed first: %v) returned %q, want %q",
			errCursor, bFirst, got, want)
	}
	return nil
}
