package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// The live event stream (SPEC E7): GET /api/v1/events answers server-sent
// events (text/event-stream), one per change the caller may view:
//
//	id: 1042
//	event: endpoint.pending
//	data: {"id":"1042","type":"endpoint.pending","endpoint_id":"…","account_id":"…","state":"pending","at":"…"}
//
// and a comment line (": keep-alive") every 15 s. A block with only an id
// line moves the resume point past events the caller may not see. Sending
// the last id seen back as Last-Event-ID (or ?after=) resumes the stream
// after it, with every event committed meanwhile; without it the stream
// starts with the events that happen from then on.

// PathEvents is the route of the event stream.
const PathEvents = "/api/v1/events"

// Event is one event of the stream, the JSON of its data line. It holds
// no secret.
type Event struct {
	// ID is the event's place in the stream (its SSE id): pass it back as
	// EventFilter.LastEventID to resume after it.
	ID   string `json:"id"`
	Type string `json:"type"` // endpoint.pending, …, apikey.created (protocol's Event* constants)
	// EndpointID is the client id of an endpoint.* event's endpoint.
	EndpointID string `json:"endpoint_id,omitempty"`
	// KeyID is the API key of an apikey.* event.
	KeyID     string `json:"key_id,omitempty"`
	AccountID string `json:"account_id"`
	// State is the endpoint's new state, for endpoint.<state> events.
	State string    `json:"state,omitempty"`
	At    time.Time `json:"at"`
}

// EventFilter says which events OpenEvents streams.
type EventFilter struct {
	// AccountID keeps the events of this account and the accounts below
	// it ("" = every account the caller may view).
	AccountID string
	// Types keeps these event types; "endpoint.*" or "apikey.*" keeps a
	// family (none = every type).
	Types []string
	// LastEventID resumes after this event (Event.ID); "" starts with the
	// events that happen from now on.
	LastEventID string
	// Idle ends the stream with ErrStreamIdle when nothing, not even a
	// keep-alive, arrives for this long (0 = 45 s, three keep-alives).
	Idle time.Duration
}

// ErrStreamIdle ends an event stream on which nothing arrived for
// EventFilter.Idle: the connection is likely dead; open a new one.
var ErrStreamIdle = errors.New("api: the event stream went silent")

// maxEventLine bounds one line of the stream.
const maxEventLine = 64 << 10

// EventStream is an open event stream. Next and Close may be called from
// different goroutines; Next from one at a time.
type EventStream struct {
	body   io.ReadCloser
	r      *bufio.Reader
	idle   time.Duration
	timer  *time.Timer
	silent atomic.Bool
	lastID string
}

// OpenEvents opens the event stream. It returns once the broker has
// answered: every event committed from then on (or after f.LastEventID)
// comes out of Next. The client's http.Client timeout does not apply (a
// stream lasts); ctx ends the stream. Close it when done.
func (c *Client) OpenEvents(ctx context.Context, f EventFilter) (*EventStream, error) {
	q := url.Values{}
	setNonEmpty(q, "account_id", f.AccountID)
	for _, t := range f.Types {
		q.Add("type", t)
	}
	u := c.base + PathEvents
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if f.LastEventID != "" {
		req.Header.Set("Last-Event-ID", f.LastEventID)
	}
	c.setAuth(req)
	hc := *c.hc
	hc.Timeout = 0 // bounds a whole answer; a stream's ends with ctx or Idle
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if err != nil {
			return nil, fmt.Errorf("api: reading answer of GET %s: %w", PathEvents, err)
		}
		return nil, decodeError(resp.StatusCode, data)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("api: GET %s answered %q, not an event stream", PathEvents, resp.Header.Get("Content-Type"))
	}
	s := &EventStream{body: resp.Body, r: bufio.NewReaderSize(resp.Body, maxEventLine), idle: f.Idle, lastID: f.LastEventID}
	if s.idle <= 0 {
		s.idle = 45 * time.Second
	}
	s.timer = time.AfterFunc(s.idle, func() {
		s.silent.Store(true)
		resp.Body.Close() // unblocks Next
	})
	return s, nil
}

// Next returns the next event. It returns io.EOF when the broker ended the
// stream, ErrStreamIdle when it went silent, and the read error otherwise
// (after ctx ends: one wrapping it). After an error, open a new stream
// from LastEventID.
func (s *EventStream) Next() (Event, error) {
	var id, typ string
	var data []byte
	idSet, hasData := false, false
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			switch {
			case s.silent.Load():
				return Event{}, ErrStreamIdle
			case errors.Is(err, bufio.ErrBufferFull):
				return Event{}, fmt.Errorf("api: an event stream line is over %d bytes", maxEventLine)
			}
			return Event{}, err
		}
		s.timer.Reset(s.idle)
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 { // the end of a block: dispatch it
			if idSet {
				s.lastID = id
			}
			if hasData {
				var ev Event
				if err := json.Unmarshal(data, &ev); err != nil {
					return Event{}, fmt.Errorf("api: decoding an event: %w", err)
				}
				if ev.ID == "" {
					ev.ID = s.lastID
				}
				if ev.Type == "" {
					ev.Type = typ
				}
				return ev, nil
			}
			idSet, typ = false, ""
			continue
		}
		if line[0] == ':' {
			continue // a comment: the keep-alive
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "id":
			if !bytes.Contains(value, []byte{0}) {
				id, idSet = string(value), true
			}
		case "event":
			typ = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data, hasData = append(data, value...), true
		}
	}
}

// LastEventID returns the id to resume after: that of the last event Next
// returned, or of a later id-only block.
func (s *EventStream) LastEventID() string { return s.lastID }

// Close ends the stream.
func (s *EventStream) Close() error {
	s.timer.Stop()
	return s.body.Close()
}
