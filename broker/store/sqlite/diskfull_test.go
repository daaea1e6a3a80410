package sqlite_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
)

// fullDisk opens a store whose file may not grow: PRAGMA max_page_count at
// its page count, so SQLite answers SQLITE_FULL as on a full disk. big is a
// value bigger than every free page (writing it needs the file to grow);
// room lifts the limit.
func fullDisk(t *testing.T) (s *sqlite.Store, big string, room func()) {
	t.Helper()
	s = open(t, filepath.Join(t.TempDir(), "edgetrust.db"))
	t.Cleanup(func() { s.Close() })
	pragma := func(q string) int {
		t.Helper()
		v, err := sqlite.PragmaForTest(t.Context(), s, true, q)
		if err != nil {
			t.Fatalf("PRAGMA %s: %v", q, err)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("PRAGMA %s = %q", q, v)
		}
		return n
	}
	pages, free, size := pragma("page_count"), pragma("freelist_count"), pragma("page_size")
	big = strings.Repeat("x", (free+16)*size)
	if got := pragma("max_page_count = " + strconv.Itoa(pages)); got != pages {
		t.Fatalf("max_page_count = %d, want %d", got, pages)
	}
	return s, big, func() { pragma("max_page_count = 1073741823") }
}

// TestDiskFullFailsCleanly fills the database (issue 15, point 9): with
// PRAGMA max_page_count at the file's size, SQLite answers SQLITE_FULL as
// on a full disk. The Update fails matching registry.ErrUnwritable, its
// write is absent, reads go on, and once there is room again the same
// write succeeds.
func TestDiskFullFailsCleanly(t *testing.T) {
	s, big, room := fullDisk(t)
	ctx := t.Context()
	write := func(action string) error {
		return s.Update(ctx, func(tx registry.Tx) error {
			return tx.AppendAudit(&registry.AuditEvent{Time: time.Unix(1, 0), Actor: "system", Action: action,
				Outcome: registry.OutcomeSuccess, Detail: map[string]string{"pad": big}})
		})
	}
	count := func(action string) int {
		t.Helper()
		var n int
		if err := s.View(ctx, func(tx registry.Tx) error {
			evs, err := tx.ListAudit(registry.AuditFilter{Action: action})
			n = len(evs)
			return err
		}); err != nil {
			t.Fatalf("reading while full: %v", err)
		}
		return n
	}

	err := write("disk.full")
	if !errors.Is(err, registry.ErrUnwritable) {
		t.Fatalf("write on a full disk: %v, want registry.ErrUnwritable", err)
	}
	if n := count("disk.full"); n != 0 {
		t.Errorf("%d rows of the failed write, want 0", n)
	}

	room()
	if err := write("disk.room"); err != nil {
		t.Fatalf("write once there is room again: %v", err)
	}
	if n := count("disk.room"); n != 1 {
		t.Errorf("%d rows after room returned, want 1", n)
	}
}

// TestDiskFullAbandonsTheBatchCleanly: an Update that fills the disk in a
// group-committed batch ends the whole transaction (SQLite rolls it back),
// so the Updates batched with it are lost too; each of them is told so
// with registry.ErrUnwritable, none is made, and the store writes again
// once there is room.
func TestDiskFullAbandonsTheBatchCleanly(t *testing.T) {
	s, big, room := fullDisk(t)
	ctx := t.Context()

	release := blockWriter(t, s) // the next Updates queue into one batch
	small := make(chan error, 1)
	go func() {
		small <- s.Update(ctx, func(tx registry.Tx) error { return tx.SetMeta("small", "1") })
	}()
	waitFor(t, "the small Update queued", func() bool { return sqlite.SendingForTest(s) == 1 })
	bigErr := make(chan error, 1)
	go func() {
		bigErr <- s.Update(ctx, func(tx registry.Tx) error { return tx.SetMeta("big", big) })
	}()
	waitFor(t, "the big Update queued", func() bool { return sqlite.SendingForTest(s) == 2 })
	errs := map[string]error{"blocker": release(), "small": <-small, "big": <-bigErr}
	for who, err := range errs {
		if who == "big" || err != nil { // the others may fit in the file's last pages alone
			if !errors.Is(err, registry.ErrUnwritable) {
				t.Errorf("%s: %v, want registry.ErrUnwritable", who, err)
			}
		}
	}
	got := metaKeys(t, s, []string{"blocker", "small", "big"})
	for who, err := range errs {
		if got[who] != (err == nil) {
			t.Errorf("%s: present %v, returned %v", who, got[who], err)
		}
	}
	room()
	if err := s.Update(ctx, func(tx registry.Tx) error { return tx.SetMeta("big", big) }); err != nil {
		t.Fatalf("write once there is room again: %v", err)
	}
}
