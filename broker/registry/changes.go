package registry

import (
	"context"
	"strings"

	"github.com/edgetrust/edgetrust/protocol"
)

// The change feed: the events of SPEC E7 read back from the audit log in
// commit order (Tx.ListAuditChanges). Every change the registry makes
// writes its audit row in the same transaction, so the log is the one
// durable record of what happened; a live watcher that reconnects, a broker
// that lost its bus, and a webhook outbox all catch up through it, from the
// cursor they last saw, without missing a change committed meanwhile.

// Change is one event of the feed with its place in the log.
type Change struct {
	Cursor ChangeCursor
	Event  Event
}

// EventOfAudit returns the event a successful audit row stands for, and
// false for a row that is no event of SPEC E7 (reads, refusals, logins…).
// BrokerID and Seq stay zero: the log does not say which broker wrote it.
func EventOfAudit(a *AuditEvent) (Event, bool) {
	if a.Outcome != OutcomeSuccess {
		return Event{}, false
	}
	ev := Event{AccountID: a.AccountID, At: a.Time}
	if id, ok := strings.CutPrefix(a.Target, "endpoint:"); ok {
		ev.EndpointID = id
	}
	state := func(s State) (Event, bool) {
		ev.Type, ev.State = protocol.EndpointEvent(string(s)), s
		return ev, ev.EndpointID != ""
	}
	switch a.Action {
	case "endpoint.register":
		if ev.EndpointID == "" { // rows before issue 12 name the bare id
			ev.EndpointID = a.Target
		}
		return state(State(a.Detail["state"]))
	case "endpoint.approve":
		return state(StateTrusted)
	case "endpoint.reject":
		return state(StateRejected)
	case "endpoint.untrust":
		return state(StateUntrusted)
	case "endpoint.delete", "endpoint.expire", "endpoint.stale_delete":
		return state(StateDeleted)
	case "endpoint.key_change.request", "endpoint.key_change.approve", "endpoint.key_change.reject":
		ev.Type = protocol.EventEndpointKeyChange
		return ev, ev.EndpointID != ""
	case "apikey.create":
		ev.Type = protocol.EventAPIKeyCreated
	case "apikey.delete":
		ev.Type = protocol.EventAPIKeyDeleted
	case "apikey.update", "apikey.value.add", "apikey.value.regenerate", "apikey.value.revoke", "edge.add", "edge.remove":
		ev.Type = protocol.EventAPIKeyUpdated
	default:
		return Event{}, false
	}
	return ev, true
}

// changeScan bounds the audit rows one ReadChanges reads: most rows are no
// event, so a page of events may take several pages of rows.
const changeScan = 1000

// ReadChanges returns the events after cursor, in commit order, at most
// limit of them (0 = as many as one scan finds), and the cursor to pass
// next (after the last row read, event or not, so a reader never reads a
// row twice). visible filters them (nil = all); it is how a caller sees
// only the accounts it may view. It reads without a principal: callers
// that serve a person filter with a principal's rights (Registry.Changes).
func (r *Registry) ReadChanges(ctx context.Context, after ChangeCursor, limit int, visible func(Event) bool) ([]Change, ChangeCursor, error) {
	var out []Change
	next := after
	err := r.store.View(ctx, func(tx Tx) error {
		out, next = nil, after
		for {
			rows, cur, err := tx.ListAuditChanges(next, changeScan)
			if err != nil {
				return internal("reading the change feed", err)
			}
			for i := range rows {
				if ev, ok := EventOfAudit(&rows[i]); ok && (visible == nil || visible(ev)) {
					out = append(out, Change{Cursor: rows[i].Cursor, Event: ev})
				}
			}
			next = cur
			if len(rows) < changeScan || (limit > 0 && len(out) >= limit) {
				return nil
			}
		}
	})
	if err != nil {
		return nil, after, err
	}
	if limit > 0 && len(out) > limit {
		out, next = out[:limit], out[limit-1].Cursor
	}
	return out, next, nil
}
