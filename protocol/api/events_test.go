package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The contract fields of an event (issue 13): type, endpoint_id,
// account_id, at; and id for resuming.
func TestEventContract(t *testing.T) {
	got := fieldNames(t, api.Event{ID: "1", Type: "endpoint.pending", EndpointID: "e", KeyID: "k", AccountID: "a", State: "pending", At: time.Now()})
	want := []string{"account_id", "at", "endpoint_id", "id", "key_id", "state", "type"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
}

// The client reads server-sent events as the standard says: comments
// skipped, CRLF or LF, data over several lines joined, an id-only block
// moving the resume point, the request's Last-Event-ID and filter sent.
func TestOpenEventsParsesTheStream(t *testing.T) {
	var gotReq *http.Request
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotReq = r
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, ": keep-alive\n\n"+
			"id: 7\r\nevent: endpoint.pending\r\ndata: {\"id\":\"7\",\"type\":\"endpoint.pending\",\r\ndata: \"endpoint_id\":\"e1\",\"account_id\":\"a\",\"at\":\"2030-01-02T03:04:05Z\"}\r\n\r\n"+
			": keep-alive\n\nid: 9\n\n"+
			"id: 12\nevent: apikey.created\ndata: {\"account_id\":\"a\",\"key_id\":\"k\",\"at\":\"2030-01-02T03:04:06Z\"}\n\n")
	}))
	defer srv.Close()
	c := api.New(srv.URL, srv.Client())
	c.SetToken("tok")
	s, err := c.OpenEvents(context.Background(), api.EventFilter{AccountID: "a", Types: []string{"endpoint.*", "apikey.created"}, LastEventID: "5"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if gotReq.Header.Get("Last-Event-ID") != "5" || gotReq.Header.Get("Authorization") != "Bearer tok" ||
		gotReq.URL.RawQuery != "account_id=a&type=endpoint.%2A&type=apikey.created" {
		t.Errorf("request %v %v", gotReq.Header, gotReq.URL)
	}
	var got []api.Event
	var ids []string
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got, ids = append(got, ev), append(ids, s.LastEventID())
	}
	want := []api.Event{
		{ID: "7", Type: "endpoint.pending", EndpointID: "e1", AccountID: "a", At: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: "12", Type: "apikey.created", KeyID: "k", AccountID: "a", At: time.Date(2030, 1, 2, 3, 4, 6, 0, time.UTC)},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"7", "12"}, ids); d != "" {
		t.Errorf("LastEventID (-want +got):\n%s", d)
	}
}

// A stream on which nothing arrives ends with ErrStreamIdle; an answer
// that is no stream, or an error, is refused when opening.
func TestOpenEventsIdleAndRefusals(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("account_id") {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[]")
		case "denied":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"unauthorized","error_description":"sign in"}`)
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	c := api.New(srv.URL, srv.Client())
	s, err := c.OpenEvents(context.Background(), api.EventFilter{Idle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); !errors.Is(err, api.ErrStreamIdle) {
		t.Errorf("silent stream: %v, want ErrStreamIdle", err)
	}
	s.Close()
	if _, err := c.OpenEvents(context.Background(), api.EventFilter{AccountID: "json"}); err == nil {
		t.Error("a JSON answer opened a stream")
	}
	if _, err := c.OpenEvents(context.Background(), api.EventFilter{AccountID: "denied"}); !api.IsStatus(err, 401) {
		t.Errorf("401: %v", err)
	}
}
