package agentapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/agentapi"
	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol"
)

// Default deny (issue 15): every frame type 0-255, with a malformed and
// with an empty JSON payload, in every state of a connection — before
// HELLO, registered and pending, registered and trusted — on the control
// stream and on a request stream. Undefined types reach no handler (the
// control stream skips them, a request stream ends without a request);
// defined ones get an answer or are refused; nothing changes the store,
// the audit included; the broker keeps serving.

// payloads sent with every frame type.
var sweepPayloads = map[string][]byte{"malformed": {0xff, '{'}, "empty object": []byte("{}")}

func defined(t protocol.FrameType) bool {
	m, _ := protocol.Decode(t, []byte("{}"))
	return m != nil
}

func rawFrame(t protocol.FrameType, payload []byte) []byte {
	b := []byte{byte(t), 0, 0, 0, byte(len(payload))}
	return append(b, payload...)
}

// world is what a frame could change: endpoints and the audit.
type world struct {
	Endpoints []registry.Endpoint
	Audit     []registry.AuditEvent
}

func snapshot(t *testing.T, h *harness) world {
	t.Helper()
	ctx := context.Background()
	eps, err := h.reg.ListEndpoints(ctx, h.admin, registry.EndpointFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audit, err := h.reg.ListAudit(ctx, h.admin, registry.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return world{eps, audit}
}

// pingSync sends a PING and reads the control stream up to its PONG,
// returning what came before it: the answers to the frames sent since
// the last sync.
func (r *raw) pingSync(seq uint64) []protocol.Message {
	r.t.Helper()
	r.send(&protocol.Ping{Seq: seq})
	var before []protocol.Message
	for {
		m := r.recv()
		if p, ok := m.(*protocol.Pong); ok && p.Seq == seq {
			return before
		}
		before = append(before, m)
	}
}

// kind names an answer for the tables: "error <code>", a frame type, or
// "none".
func kind(ms ...protocol.Message) string {
	if len(ms) == 0 {
		return "none"
	}
	if e, ok := ms[0].(*protocol.Error); ok {
		return "error " + e.Code.String()
	}
	return ms[0].FrameType().String()
}

func TestEveryFrameTypeInEveryState(t *testing.T) {
	// A connection stays without HELLO for the whole of its sweep.
	h := newHarnessWith(t, brokertest.Options{}, agentapi.Config{HelloTimeout: time.Minute})
	before := snapshot(t, h)

	t.Run("before hello, control stream", func(t *testing.T) {
		// Undefined types are skipped, so one connection takes them all
		// and then its HELLO.
		r := dial(t, h)
		for ft := range 256 {
			if defined(protocol.FrameType(ft)) {
				continue
			}
			for _, p := range sweepPayloads {
				if _, err := r.ctrl.Write(rawFrame(protocol.FrameType(ft), p)); err != nil {
					t.Fatal(err)
				}
			}
		}
		r.hello()
		// A defined frame other than a good HELLO ends the connection.
		for ft := range 256 {
			if !defined(protocol.FrameType(ft)) {
				continue
			}
			for name, p := range sweepPayloads {
				r := dial(t, h)
				if _, err := r.ctrl.Write(rawFrame(protocol.FrameType(ft), p)); err != nil {
					t.Fatal(err)
				}
				want := "error proof_required"
				switch {
				case name == "malformed":
					want = "error bad_request"
				case protocol.FrameType(ft) == protocol.TypeHello:
					want = "error unsupported_version" // capability 0
				}
				if got := kind(r.recv()); got != want {
					t.Errorf("%s %s before hello: %s, want %s", protocol.FrameType(ft), name, got, want)
				}
				select {
				case <-r.conn.Context().Done():
				case <-time.After(10 * time.Second):
					t.Errorf("%s %s before hello: the connection stayed open", protocol.FrameType(ft), name)
				}
			}
		}
	})

	t.Run("before hello, request streams", func(t *testing.T) {
		r := dial(t, h)
		if _, err := r.ctrl.Write([]byte{byte(protocol.TypeHello)}); err != nil { // the control stream, no HELLO yet
			t.Fatal(err)
		}
		for ft := range 256 {
			for name, p := range sweepPayloads {
				got := kind(r.request(rawFrame(protocol.FrameType(ft), p)))
				want := "error bad_request" // undefined: skipped, then the stream ends; or malformed
				if defined(protocol.FrameType(ft)) && name != "malformed" {
					want = "error proof_required"
				}
				if got != want {
					t.Errorf("%s %s: %s, want %s", protocol.FrameType(ft), name, got, want)
				}
			}
		}
	})

	for _, st := range []struct{ name, key, state string }{{"pending", h.man, "pending"}, {"trusted", h.key, "trusted"}} {
		t.Run(st.name, func(t *testing.T) {
			r := dial(t, h)
			r.hello()
			r.send(&protocol.Register{APIKey: st.key, ClientType: "printer"})
			reg, ok := r.recv().(*protocol.Registered)
			if !ok || reg.State != st.state {
				t.Fatalf("registered = %#v", reg)
			}
			registered := snapshot(t, h)
			seq := uint64(1000)
			for ft := range 256 {
				for name, p := range sweepPayloads {
					if _, err := r.ctrl.Write(rawFrame(protocol.FrameType(ft), p)); err != nil {
						t.Fatal(err)
					}
					seq++
					got := kind(r.pingSync(seq)...)
					want := controlAnswer(protocol.FrameType(ft), name)
					if got != want {
						t.Errorf("control %s %s: %s, want %s", protocol.FrameType(ft), name, got, want)
					}
					got = kind(r.request(rawFrame(protocol.FrameType(ft), p)))
					want = requestAnswer(protocol.FrameType(ft), name)
					if got != want {
						t.Errorf("request %s %s: %s, want %s", protocol.FrameType(ft), name, got, want)
					}
				}
			}
			if d := cmp.Diff(registered, snapshot(t, h)); d != "" {
				t.Errorf("the frames changed the store (-before +after):\n%s", d)
			}
		})
	}

	// Only the two registrations above changed anything, and the broker
	// still serves a new agent.
	after := snapshot(t, h)
	if d := cmp.Diff(2, len(after.Endpoints)-len(before.Endpoints)); d != "" {
		t.Errorf("endpoints added (-want +got):\n%s", d)
	}
	r := dial(t, h)
	r.hello()
	r.send(&protocol.Register{APIKey: h.key, ClientType: "printer"})
	if reg, ok := r.recv().(*protocol.Registered); !ok || reg.State != "trusted" {
		t.Fatalf("a new agent after the sweep: %#v", reg)
	}
}

// controlAnswer is what the control stream answers a frame after HELLO.
func controlAnswer(ft protocol.FrameType, payload string) string {
	switch {
	case !defined(ft):
		return "none" // skipped
	case payload == "malformed":
		return "error bad_request"
	case ft == protocol.TypeRegister:
		return "error bad_request" // no client type: refused before the key is looked at
	case ft == protocol.TypePing:
		return protocol.TypePong.String()
	case ft == protocol.TypePong:
		return "none"
	}
	return "error bad_request" // not valid on the control stream
}

// requestAnswer is what a request stream answers a frame after HELLO.
func requestAnswer(ft protocol.FrameType, payload string) string {
	switch {
	case !defined(ft), payload == "malformed":
		return "error bad_request"
	case ft == protocol.TypeRefresh:
		return "error invalid_grant"
	case ft == protocol.TypeLogin:
		return "error bad_request" // no login type
	}
	return "error bad_request" // not a request
}
