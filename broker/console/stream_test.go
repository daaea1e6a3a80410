package console_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/console"
	"github.com/edgetrust/edgetrust/broker/registry"
)

// The queue follows an event stream in the shape of the API's GET
// /api/v1/events (SSE, "event:" the type, data {"id","type",
// "endpoint_id","account_id","state","at"}) that accepts the console's
// cookie through SessionAuth: a stand-in served beside the console, so
// that this test holds whatever broker it is merged with. A new pending
// endpoint appears without a reload, by the stream and not by polling.
func TestBrowserQueueFollowsEventStream(t *testing.T) {
	e := shared(t) // for the browser's trusted certificate
	reg := brokertest.New(t, brokertest.Options{})
	con, err := console.New(console.Config{Registry: reg.Registry})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", con.Handler())
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		if _, err := con.SessionAuth(r); err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		events, stop := reg.Registry.Bus().Subscribe("")
		defer stop()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-events:
				data, _ := json.Marshal(map[string]any{"id": fmt.Sprint(ev.Seq), "type": ev.Type, "endpoint_id": ev.EndpointID,
					"account_id": ev.AccountID, "state": ev.State, "at": ev.At})
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data)
				http.NewResponseController(w).Flush()
			}
		}
	})
	// The shared broker's certificate, which the browser trusts.
	cert, err := tls.LoadX509KeyPair(e.caFile, filepath.Join(filepath.Dir(e.caFile), "broker.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	if srv.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	// Before the tab is closed (cleanups run last first): the stream
	// stays open until its connection is.
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	k, err := reg.Registry.CreateAPIKey(t.Context(), reg.Admin(t), registry.CreateAPIKeyRequest{Name: "stream"})
	if err != nil {
		t.Fatal(err)
	}

	ctx := tab(t, e)
	signIn(t, ctx, &env{base: srv.URL}, registry.AdminUsername, brokertest.AdminPassword)
	do(t, ctx, "opening the queue", chromedp.Navigate(srv.URL+"/queue"), chromedp.WaitVisible(chromedp.CSS("#queue-live .empty")))
	waitFor(t, 20*time.Second, "the page to follow the stream", func() bool {
		return eval[string](t, ctx, `document.body.getAttribute("data-live") || ""`) == "stream"
	})
	id := uuid.NewString()
	_, err = reg.Registry.Register(t.Context(), registry.RegisterRequest{APIKey: k.Value, ClientID: id, ClientType: "desktop_client",
		Hostname: "streamed", Remote: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "the row to come by the stream", chromedp.WaitVisible(chromedp.ID("row-"+id)))
	if live := eval[string](t, ctx, `document.body.getAttribute("data-live")`); live != "stream" {
		t.Errorf("the page fell back to %q", live)
	}
	waitText(t, ctx, "#pending-count", "1 pending")
	shot(t, ctx, "streamed")
	if title := eval[string](t, ctx, `document.title`); title != "(1) Pending — edgetrust" {
		t.Errorf("title %q", title)
	}
}
