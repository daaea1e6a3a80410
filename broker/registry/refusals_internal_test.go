package registry

import (
	"fmt"
	"testing"
	"time"
)

// TestRefusalLogIsBounded: however many sources refuse keys, the windows
// held stay bounded; the sources past the bound share one window per kind,
// so they add a bounded number of rows too.
func TestRefusalLogIsBounded(t *testing.T) {
	var l refusalLog
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	written := 0
	for i := range maxRefusalSources + 1000 {
		ev := AuditEvent{Action: "endpoint.register", Remote: fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255),
			Detail: map[string]string{"reason": "unknown"}}
		rows, now2 := l.note(ev, now)
		written += len(rows)
		if now2 {
			written++
		}
	}
	if len(l.folds) > maxRefusalSources+1 {
		t.Errorf("%d windows held, want at most %d", len(l.folds), maxRefusalSources+1)
	}
	if written != maxRefusalSources+1 {
		t.Errorf("%d rows written at once, want %d (one per tracked source, one for the rest)", written, maxRefusalSources+1)
	}
	// Once the windows have closed, their counts are written and room is made.
	rows := l.closeLocked(now.Add(refusalWindow), false)
	if len(rows) != 1 || rows[0].Remote != "" || rows[0].Detail["count"] != "999" {
		t.Errorf("count rows %+v, want the shared window's 999", rows)
	}
	if len(l.folds) != 0 {
		t.Errorf("%d windows left after closing", len(l.folds))
	}
}
