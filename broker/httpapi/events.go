package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// The live event stream (SPEC E7): GET /api/v1/events answers server-sent
// events of the changes the caller may view (protocol/api/events.go shows
// the wire form). The stream is driven by the change feed
// (registry.Changes): each event's SSE id is its change cursor, the bus
// only wakes the stream up, and every wake-up (or a poll, in case a wake-up
// was lost) reads the feed after the last cursor written. So an event is
// written once, in commit order, and a client that reconnects with
// Last-Event-ID gets every event committed while it was away.

// EventsConfig tunes the event stream. Zero fields mean the defaults.
type EventsConfig struct {
	// KeepAlive is how often an idle stream writes a comment (15 s).
	KeepAlive time.Duration
	// Recheck is how often the caller's credentials are checked again (1
	// min): a stream ends within it after its token expires, its session
	// ends, its key is revoked or its user disabled, and the caller's
	// rights are read again. A client reconnects with Last-Event-ID.
	Recheck time.Duration
}

// Stream bounds.
const (
	defaultKeepAlive = 15 * time.Second
	defaultRecheck   = time.Minute
	// eventPoll reads the feed without a wake-up, for one the bus lost.
	eventPoll = 5 * time.Second
	// eventBatch is how many events one read of the feed returns.
	eventBatch = 500
	// eventWriteWait bounds one write to the caller: a stream to a caller
	// that stopped reading ends instead of holding its goroutine. Each
	// write moves the deadline, so the server's WriteTimeout (set when the
	// request came in) does not cut a long stream.
	eventWriteWait = 30 * time.Second
)

// eventsCaller authenticates the caller of the event stream: a bearer user
// token or an API key as on the admin routes (authed) or, when the request
// carries neither header and Config.SessionAuth is set, the console's
// session cookie. The cookie is accepted here only: this route changes
// nothing, so the cookie opens no cross-site request forgery.
func (a *API) eventsCaller(r *http.Request) (*registry.Principal, error) {
	if a.sessionAuth != nil && len(r.Header.Values("Authorization")) == 0 && len(r.Header.Values("X-API-Key")) == 0 {
		p, err := a.sessionAuth(r)
		if err != nil {
			return nil, registry.E(registry.KindUnauthenticated, unauthenticatedMessage, err)
		}
		return p, nil
	}
	p, err := a.authenticate(r, true)
	if err != nil && registry.KindOf(err) == registry.KindUnauthenticated {
		return nil, registry.E(registry.KindUnauthenticated, unauthenticatedMessage, err)
	}
	return p, err
}

// eventsQuery reads the filter and the cursor to start after: the
// Last-Event-ID header, else the after parameter; ok is false when the
// request names neither (start from now).
func eventsQuery(r *http.Request) (f registry.ChangeFilter, after registry.ChangeCursor, ok bool, err error) {
	q := r.URL.Query()
	f.AccountID = q.Get("account_id")
	for _, t := range q["type"] {
		for _, one := range strings.Split(t, ",") {
			if one = strings.TrimSpace(one); one != "" {
				f.Types = append(f.Types, one)
			}
		}
	}
	name, s := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if s == "" {
		name, s = "after", q.Get("after")
	}
	if s == "" {
		return f, 0, false, nil
	}
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || n < 0 {
		return f, 0, false, invalid("%s %q is not an event id of this stream: send the id of the last event received, or none to start from now", name, s)
	}
	return f, registry.ChangeCursor(n), true, nil
}

// streamEvents serves GET /api/v1/events.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// The server's WriteTimeout runs from the request's start: move it
	// before the caller is checked and the feed read, which on a loaded
	// broker may take longer than that timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(eventWriteWait))
	p, err := a.eventsCaller(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f, cursor, resume, err := eventsQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// Subscribe before reading where to start, so that no wake-up of an
	// event committed after that read is missed.
	wake := make(chan struct{}, 1)
	stop := a.reg.Bus().SubscribeFunc("", func(registry.Event) {
		select {
		case wake <- struct{}{}:
		default: // a wake-up is pending: it reads this event too
		}
	})
	defer stop()
	if !resume {
		if cursor, err = a.reg.LastChange(ctx); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	// The first read checks the filter and the caller's rights while an
	// error can still be answered as such.
	changes, next, err := a.reg.Changes(ctx, p, cursor, eventBatch, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}

	s := &eventStream{w: w, rc: http.NewResponseController(w), sent: cursor}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold events back
	w.WriteHeader(http.StatusOK)
	if err := s.flush(); err != nil {
		return
	}

	keepAlive := time.NewTicker(cmpDuration(a.events.KeepAlive, defaultKeepAlive))
	defer keepAlive.Stop()
	recheck := time.NewTicker(cmpDuration(a.events.Recheck, defaultRecheck))
	defer recheck.Stop()
	poll := time.NewTicker(eventPoll)
	defer poll.Stop()
	for {
		if err := s.write(changes); err != nil {
			a.log.Debug("event stream ended", zap.String(logfield.UserID, p.UserID), zap.Error(err))
			return
		}
		cursor = next
		if len(changes) < eventBatch { // caught up: wait for more
			if done := a.waitForEvents(ctx, s, wake, keepAlive.C, recheck.C, poll.C, cursor, r, &p); done {
				return
			}
		}
		if changes, next, err = a.reg.Changes(ctx, p, cursor, eventBatch, f); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("reading the change feed for an event stream", zap.Error(err))
			}
			return // the client reconnects, and resumes where it was
		}
	}
}

// waitForEvents waits until the feed may hold more events, writing
// keep-alives and checking the caller again meanwhile. It returns true
// when the stream must end: the request ended, a write failed, or the
// caller's credentials are no longer good (*p is updated when they are).
func (a *API) waitForEvents(ctx context.Context, s *eventStream, wake <-chan struct{}, keepAlive, recheck, poll <-chan time.Time,
	cursor registry.ChangeCursor, r *http.Request, p **registry.Principal) bool {
	for {
		select {
		case <-ctx.Done():
			return true
		case <-wake:
			return false
		case <-poll:
			return false
		case <-keepAlive:
			if err := s.keepAlive(cursor); err != nil {
				return true
			}
		case <-recheck:
			np, err := a.eventsCaller(r)
			if err != nil {
				a.log.Debug("event stream ended: the caller's credentials no longer hold", zap.String(logfield.UserID, (*p).UserID), zap.Error(err))
				return true
			}
			*p = np
		}
	}
}

// eventStream writes server-sent events.
type eventStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	buf  bytes.Buffer
	sent registry.ChangeCursor // the last id the client was given
}

// write writes changes as events and flushes them.
func (s *eventStream) write(changes []registry.Change) error {
	if len(changes) == 0 {
		return nil
	}
	s.buf.Reset()
	for _, c := range changes {
		id := strconv.FormatInt(int64(c.Cursor), 10)
		data, err := json.Marshal(api.Event{
			ID: id, Type: c.Event.Type, EndpointID: c.Event.EndpointID, KeyID: c.KeyID,
			AccountID: c.Event.AccountID, State: string(c.Event.State), At: c.Event.At.UTC(),
		})
		if err != nil {
			return err
		}
		s.buf.WriteString("id: " + id + "\nevent: " + c.Event.Type + "\ndata: ")
		s.buf.Write(data)
		s.buf.WriteString("\n\n")
	}
	s.sent = changes[len(changes)-1].Cursor
	return s.send()
}

// keepAlive writes the keep-alive comment and, when the feed moved past
// events the caller may not see, an id-only block, so a client that
// reconnects resumes from there rather than reading them again.
func (s *eventStream) keepAlive(cursor registry.ChangeCursor) error {
	s.buf.Reset()
	s.buf.WriteString(": keep-alive\n\n")
	if cursor != s.sent {
		s.buf.WriteString("id: " + strconv.FormatInt(int64(cursor), 10) + "\n\n")
		s.sent = cursor
	}
	return s.send()
}

// send writes the buffer with a fresh write deadline, then flushes.
func (s *eventStream) send() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(eventWriteWait)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return err
	}
	return s.flush()
}

func (s *eventStream) flush() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(eventWriteWait)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return s.rc.Flush()
}

// cmpDuration returns d, or def when d is not positive.
func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
