package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgetrust/edgetrust/broker/web"
)

func TestMuxMiddleware(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	m := web.New(web.Config{Logger: zap.New(core), MaxBody: 16})
	m.Handle("POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		w.Write(b)
	}))
	m.Handle("GET /stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An event stream reaches the connection through the middleware.
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the middleware: %v", err)
		}
		io.WriteString(w, "data: x\n\n")
	}))
	m.Handle("GET /panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	srv := httptest.NewServer(m)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/echo?rest_api_key=etk_secret", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := map[string]string{"body": string(body)}
	for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Strict-Transport-Security"} {
		got[h] = resp.Header.Get(h)
	}
	want := map[string]string{"body": "hello", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=31536000"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answer (-want +got):\n%s", d)
	}

	resp, err = http.Post(srv.URL+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", 17)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the bound: %d", resp.StatusCode)
	}
	for _, path := range []string{"/stream", "/panic"} {
		resp, err = http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		// To the end: the stream's headers arrive at its flush, before its
		// handler (and the middleware's log line after it) has returned;
		// the body ends only once both have.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("a panic answers %d, want 500", resp.StatusCode)
	}

	var paths []string
	for _, e := range logs.FilterMessage("request").All() {
		paths = append(paths, e.ContextMap()["path"].(string))
		for _, f := range e.Context {
			if strings.Contains(f.String, "etk_secret") {
				t.Errorf("the query reached the log: %v", e.ContextMap())
			}
		}
	}
	if d := cmp.Diff([]string{"/echo", "/echo", "/stream", "/panic"}, paths); d != "" {
		t.Errorf("request log (-want +got):\n%s", d)
	}
	if logs.FilterMessage("panic serving request").Len() != 1 {
		t.Error("the panic was not logged")
	}
}
