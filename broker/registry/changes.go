package registry

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// KeyID is the API key an apikey.* event is about ("" otherwise).
	KeyID string
	// ValueID and ExpiresAt: for apikey.expiring, the value about to
	// expire ("" = the key itself) and when.
	ValueID   string
	ExpiresAt time.Time
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
	case "endpoint.clone_suspected":
		// The state it was in: an agent told it already ignores the event.
		ev.Type, ev.State = protocol.EventEndpointCloneSuspected, State(a.Detail["state"])
		return ev, ev.EndpointID != ""
	case "apikey.create":
		ev.Type = protocol.EventAPIKeyCreated
	case "apikey.delete":
		ev.Type = protocol.EventAPIKeyDeleted
	case "apikey.expiry_warning":
		ev.Type = protocol.EventAPIKeyExpiring
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
		var err error
		out, next, err = readChanges(tx, after, limit, func(ev Event) (bool, error) { return visible == nil || visible(ev), nil })
		return err
	})
	if err != nil {
		return nil, after, err
	}
	return out, next, nil
}

// readChanges is ReadChanges in a transaction.
func readChanges(tx Tx, after ChangeCursor, limit int, visible func(Event) (bool, error)) ([]Change, ChangeCursor, error) {
	var out []Change
	next := after
	for {
		rows, cur, err := tx.ListAuditChanges(next, changeScan)
		if err != nil {
			return nil, after, internal("reading the change feed", err)
		}
		for i := range rows {
			ev, ok := EventOfAudit(&rows[i])
			if !ok {
				continue
			}
			if ok, err = visible(ev); err != nil {
				return nil, after, err
			}
			if ok {
				c := Change{Cursor: rows[i].Cursor, Event: ev}
				if strings.HasPrefix(ev.Type, "apikey.") {
					c.KeyID = strings.TrimPrefix(rows[i].Target, "apikey:")
				}
				if ev.Type == protocol.EventAPIKeyExpiring {
					c.ValueID = rows[i].Detail["value_id"]
					c.ExpiresAt, _ = time.Parse(time.RFC3339, rows[i].Detail["expires_at"])
				}
				out = append(out, c)
			}
		}
		next = cur
		if len(rows) < changeScan || (limit > 0 && len(out) >= limit) {
			break
		}
	}
	if limit > 0 && len(out) > limit {
		out, next = out[:limit], out[limit-1].Cursor
	}
	return out, next, nil
}

// LastChange returns the end of the change feed: reading from it returns
// the events that commit after this call (a watcher that starts "now").
func (r *Registry) LastChange(ctx context.Context) (ChangeCursor, error) {
	var c ChangeCursor
	err := r.store.View(ctx, func(tx Tx) error {
		var err error
		if c, err = tx.LastChangeCursor(); err != nil {
			return internal("reading the end of the change feed", err)
		}
		return nil
	})
	return c, err
}

// ChangeFilter narrows the events a principal reads (Registry.Changes).
type ChangeFilter struct {
	// AccountID keeps the events of this account and of the accounts below
	// it ("" = every account the principal may view).
	AccountID string
	// Types keeps these event types; an entry ending in ".*" (apikey.*)
	// keeps every type with that prefix. None keeps every type.
	Types []string
}

// eventTypes are the types of SPEC E7, for checking a filter.
var eventTypes = []string{
	protocol.EventEndpointPending, protocol.EventEndpointTrusted, protocol.EventEndpointRejected,
	protocol.EventEndpointUntrusted, protocol.EventEndpointDeleted, protocol.EventEndpointKeyChange,
	protocol.EventEndpointCloneSuspected,
	protocol.EventAPIKeyCreated, protocol.EventAPIKeyUpdated, protocol.EventAPIKeyDeleted, protocol.EventAPIKeyExpiring,
}

// keeps reports whether the filter's types keep typ.
func (f *ChangeFilter) keeps(typ string) bool {
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if prefix, ok := strings.CutSuffix(t, "*"); ok && strings.HasPrefix(typ, prefix) || t == typ {
			return true
		}
	}
	return false
}

// check refuses a type no event has (KindInvalid).
func (f *ChangeFilter) check() error {
	for _, t := range f.Types {
		prefix, wild := strings.CutSuffix(t, ".*")
		known := slices.Contains(eventTypes, t) ||
			wild && slices.ContainsFunc(eventTypes, func(e string) bool { return strings.HasPrefix(e, prefix+".") })
		if !known {
			return E(KindInvalid, "unknown event type "+strconv.Quote(t)+": use one of "+strings.Join(eventTypes, ", ")+", or endpoint.* or apikey.*", nil)
		}
	}
	return nil
}

// Changes returns the events after cursor that p may see, filtered by f,
// in commit order: at most limit of them (0 = as many as one scan finds),
// and the cursor to pass next. p sees an endpoint event with ViewEndpoint
// at its account and an apikey.* event with ViewApiKey there; its rights
// and the account tree are read again on each call, so an account created
// since the last call is seen and a revoked grant hides at once. An
// f.AccountID p cannot view at all answers KindNotFound. Events hold no
// secrets.
func (r *Registry) Changes(ctx context.Context, p *Principal, after ChangeCursor, limit int, f ChangeFilter) ([]Change, ChangeCursor, error) {
	if p == nil {
		return nil, after, E(KindUnauthenticated, "sign in first", nil)
	}
	if err := f.check(); err != nil {
		return nil, after, err
	}
	var out []Change
	next := after
	err := r.store.View(ctx, func(tx Tx) error {
		if f.AccountID != "" {
			if err := authorize(tx, p, PermViewEndpoint, f.AccountID); err != nil && authorize(tx, p, PermViewAPIKey, f.AccountID) != nil {
				return err
			}
		}
		var chains map[string][]string // read at the first event
		seen := map[[2]string]bool{}   // account, permission → p holds it
		visible := func(ev Event) (bool, error) {
			if !f.keeps(ev.Type) {
				return false, nil
			}
			if chains == nil {
				chains = map[string][]string{}
				if err := forEachAccount(tx, func(a *Account, chain []string) { chains[a.ID] = chain }); err != nil {
					return false, err
				}
			}
			chain, ok := chains[ev.AccountID]
			if !ok || f.AccountID != "" && !slices.Contains(chain, f.AccountID) {
				return false, nil
			}
			perm := PermViewEndpoint
			if strings.HasPrefix(ev.Type, "apikey.") {
				perm = PermViewAPIKey
			}
			k := [2]string{ev.AccountID, string(perm)}
			holds, ok := seen[k]
			if !ok {
				holds = p.check(chain, perm) == nil
				seen[k] = holds
			}
			return holds, nil
		}
		var err error
		out, next, err = readChanges(tx, after, limit, visible)
		return err
	})
	if err != nil {
		return nil, after, err
	}
	return out, next, nil
}
