package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol"
)

// Test vector shared with PROTOCOL.md ("Test vectors"): the RFC 8032 §7.1
// TEST 1 key, and an illustrative exporter value 0x00..0x1f.
var (
	vecSeed      = mustHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	vecPublicKey = mustHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	vecExporter  = func() []byte {
		b := make([]byte, protocol.ExporterLength)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}()
	vecSigningInput = mustHex("6564676574727573742068656c6c6f20763100" +
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	vecSignature = mustHex("3d2f14bf6f86586a4a626536ce8c361f4448081379c58e376230aeb5d6386999" +
		"6f9b8572396eb48e6b8e5cfd407e1ca1adf7ab0dc11ce46612f6b6ba2254b205")
	vecClientID = "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func sampleTokens() *protocol.Tokens {
	return &protocol.Tokens{
		AccessToken:      "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
		TokenType:        "Bearer",
		ExpiresIn:        900,
		RefreshToken:     "etr_4f2c1b9e7a6d4c3b8e5f0a1d2c3b4a59",
		RefreshExpiresIn: 7776000,
	}
}

// messages is one filled-in and one zero value of every message type, with
// the exact JSON payload each must produce on the wire. The payloads are the
// wire contract: PROTOCOL.md shows the same ones, so a changed field name
// or omitempty breaks this test before it breaks firmware.
var messages = []struct {
	name    string
	msg     protocol.Message
	typ     protocol.FrameType
	payload string
}{
	{
		name: "hello",
		msg: &protocol.Hello{Capability: 1, ClientID: vecClientID, KeyType: protocol.KeyTypeEd25519,
			PublicKey: vecPublicKey, Signature: vecSignature, Software: "edgetrust-agent/1.0.0"},
		typ: protocol.TypeHello,
		payload: `{"capability":1,"client_id":"0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41","key_type":"ed25519",` +
			`"public_key":"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",` +
			`"signature":"PS8Uv2+GWGpKYmU2zow2H0RICBN5xY43YjCutdY4aZlvm4VyOW60jmuOXP1AfhyhrferDcEc5GYS9ra6IlSyBQ==",` +
			`"software":"edgetrust-agent/1.0.0"}`,
	},
	{
		name:    "hello zero",
		msg:     &protocol.Hello{},
		typ:     protocol.TypeHello,
		payload: `{"capability":0,"client_id":"","key_type":"","public_key":null,"signature":null}`,
	},
	{
		name:    "hello_ok",
		msg:     &protocol.HelloOK{Capability: 1, ServerTime: 1767225600123},
		typ:     protocol.TypeHelloOK,
		payload: `{"capability":1,"server_time":1767225600123}`,
	},
	{
		name: "register",
		msg: &protocol.Register{APIKey: "etk_7Hq2Lw9x_example", AccountID: "acct-42", ClientType: "desktop_client",
			Description: "front desk PC", Hostname: "desk-01", OS: "linux/amd64 Debian 13", Version: "1.0.0"},
		typ: protocol.TypeRegister,
		payload: `{"api_key":"etk_7Hq2Lw9x_example","account_id":"acct-42","client_type":"desktop_client",` +
			`"description":"front desk PC","hostname":"desk-01","os":"linux/amd64 Debian 13","version":"1.0.0"}`,
	},
	{
		name:    "register minimal",
		msg:     &protocol.Register{APIKey: "etk_x", ClientType: "printer"},
		typ:     protocol.TypeRegister,
		payload: `{"api_key":"etk_x","client_type":"printer"}`,
	},
	{
		name:    "registered pending",
		msg:     &protocol.Registered{EndpointID: vecClientID, State: protocol.StatePending},
		typ:     protocol.TypeRegistered,
		payload: `{"endpoint_id":"0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41","state":"pending"}`,
	},
	{
		name: "registered trusted",
		msg: &protocol.Registered{EndpointID: vecClientID, State: protocol.StateTrusted, AccountID: "acct-42",
			Tokens: sampleTokens()},
		typ: protocol.TypeRegistered,
		payload: `{"endpoint_id":"0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41","state":"trusted","account_id":"acct-42",` +
			`"tokens":{"access_token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln","token_type":"Bearer",` +
			`"expires_in":900,"refresh_token":"etr_4f2c1b9e7a6d4c3b8e5f0a1d2c3b4a59","refresh_expires_in":7776000}}`,
	},
	{
		name: "decision trusted",
		msg:  &protocol.Decision{EndpointID: vecClientID, State: protocol.StateTrusted, Tokens: sampleTokens()},
		typ:  protocol.TypeDecision,
		payload: `{"endpoint_id":"0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41","state":"trusted",` +
			`"tokens":{"access_token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln","token_type":"Bearer",` +
			`"expires_in":900,"refresh_token":"etr_4f2c1b9e7a6d4c3b8e5f0a1d2c3b4a59","refresh_expires_in":7776000}}`,
	},
	{
		name:    "decision deleted",
		msg:     &protocol.Decision{EndpointID: vecClientID, State: protocol.StateDeleted},
		typ:     protocol.TypeDecision,
		payload: `{"endpoint_id":"0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41","state":"deleted"}`,
	},
	{
		name:    "refresh",
		msg:     &protocol.Refresh{RefreshToken: "etr_4f2c1b9e7a6d4c3b8e5f0a1d2c3b4a59"},
		typ:     protocol.TypeRefresh,
		payload: `{"refresh_token":"etr_4f2c1b9e7a6d4c3b8e5f0a1d2c3b4a59"}`,
	},
	{
		name: "tokens",
		msg:  sampleTokens(),
		typ:  protocol.TypeTokens,
		payload: `{"access_token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln","token_type":"Bearer",` +
			`"expires_in":900,"refresh_token":"etr_4f2c1b9e7a6d4c3b8e5f0a1d2c3b4a59","refresh_expires_in":7776000}`,
	},
	{
		name:    "tokens access only",
		msg:     &protocol.Tokens{AccessToken: "a.b.c", TokenType: "Bearer", ExpiresIn: 3600},
		typ:     protocol.TypeTokens,
		payload: `{"access_token":"a.b.c","token_type":"Bearer","expires_in":3600}`,
	},
	{
		name: "login",
		msg: &protocol.Login{APIKey: "etk_x", DeviceToken: "a.b.c", Type: "session_user_domain",
			Username: "alice", Domain: "CORP", UPN: "alice@corp.example"},
		typ: protocol.TypeLogin,
		payload: `{"api_key":"etk_x","device_token":"a.b.c","type":"session_user_domain",` +
			`"username":"alice","domain":"CORP","upn":"alice@corp.example"}`,
	},
	{
		name:    "login minimal",
		msg:     &protocol.Login{APIKey: "etk_x", Type: "session_user"},
		typ:     protocol.TypeLogin,
		payload: `{"api_key":"etk_x","type":"session_user"}`,
	},
	{
		name:    "ping",
		msg:     &protocol.Ping{Seq: 1},
		typ:     protocol.TypePing,
		payload: `{"seq":1}`,
	},
	{
		name:    "ping max seq",
		msg:     &protocol.Ping{Seq: 1<<64 - 1},
		typ:     protocol.TypePing,
		payload: `{"seq":18446744073709551615}`,
	},
	{
		name:    "pong",
		msg:     &protocol.Pong{Seq: 7},
		typ:     protocol.TypePong,
		payload: `{"seq":7}`,
	},
	{
		name:    "error",
		msg:     &protocol.Error{Code: protocol.CodeInvalidClient, Message: "API key refused"},
		typ:     protocol.TypeError,
		payload: `{"code":4,"message":"API key refused"}`,
	},
	{
		name:    "error code only",
		msg:     &protocol.Error{Code: protocol.CodeFrameTooLarge},
		typ:     protocol.TypeError,
		payload: `{"code":11}`,
	},
}

func TestEncodeWireFormat(t *testing.T) {
	for _, tc := range messages {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.msg.FrameType(); got != tc.typ {
				t.Errorf("FrameType() = %v, want %v", got, tc.typ)
			}
			frame, err := protocol.Encode(tc.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			wantHdr := make([]byte, protocol.HeaderSize)
			wantHdr[0] = byte(tc.typ)
			binary.BigEndian.PutUint32(wantHdr[1:], uint32(len(tc.payload)))
			if diff := cmp.Diff(wantHdr, frame[:protocol.HeaderSize]); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.payload, string(frame[protocol.HeaderSize:])); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range messages {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := protocol.WriteMessage(&buf, tc.msg); err != nil {
				t.Fatalf("WriteMessage: %v", err)
			}
			r := protocol.NewReader(&buf)
			got, err := r.ReadMessage()
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			if diff := cmp.Diff(tc.msg, got); diff != "" {
				t.Errorf("ReadMessage (-want +got):\n%s", diff)
			}
			if _, err := r.ReadMessage(); err != io.EOF {
				t.Errorf("ReadMessage at end = %v, want io.EOF", err)
			}
		})
	}
}

// TestRoundTripStream writes every message back to back on one stream and
// reads them through a reader that returns one byte at a time, so frames
// straddle every buffer boundary. All messages are compared only at the end:
// a message must not alias the Reader's buffer.
func TestRoundTripStream(t *testing.T) {
	var buf bytes.Buffer
	var want []protocol.Message
	for _, tc := range messages {
		if err := protocol.WriteMessage(&buf, tc.msg); err != nil {
			t.Fatalf("WriteMessage(%s): %v", tc.name, err)
		}
		want = append(want, tc.msg)
	}
	for _, tr := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data+EOF", iotest.DataErrReader},
	} {
		t.Run(tr.name, func(t *testing.T) {
			r := protocol.NewReader(tr.wrap(bytes.NewReader(buf.Bytes())))
			var got []protocol.Message
			for {
				m, err := r.ReadMessage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("ReadMessage after %d messages: %v", len(got), err)
				}
				got = append(got, m)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGoldenFrames pins complete frames byte for byte; the hex dumps in
// PROTOCOL.md are these frames.
func TestGoldenFrames(t *testing.T) {
	tests := []struct {
		name string
		msg  protocol.Message
		hex  string
	}{
		{
			name: "ping",
			msg:  &protocol.Ping{Seq: 1},
			hex:  "40000000097b22736571223a317d",
		},
		{
			name: "error",
			msg:  &protocol.Error{Code: protocol.CodeInvalidClient, Message: "API key refused"},
			hex:  "7f000000267b22636f6465223a342c226d657373616765223a22415049206b65792072656675736564227d",
		},
		{
			name: "hello",
			msg:  messages[0].msg,
			hex: "010000011e7b226361706162696c697479223a312c22636c69656e745f6964223a2230623665356335322d38663465" +
				"2d346432612d396432632d336631613763396532623431222c226b65795f74797065223a2265643235353139222c22" +
				"7075626c69635f6b6579223a223131715941594b7843726656532f3754795751484f6737686376506170694d6c7277" +
				"49616150634855526f3d222c227369676e6174757265223a225053385576322b475747704b596d55327a6f77324830" +
				"524943424e3578593433596a437574645934615a6c766d3456794f5736306a6d754f58503141666879687266657244" +
				"6345633547595339726136496c537942513d3d222c22736f667477617265223a226564676574727573742d6167656e" +
				"742f312e302e30227d",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := protocol.Encode(tc.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if diff := cmp.Diff(tc.hex, hex.EncodeToString(frame)); diff != "" {
				t.Errorf("frame (-want +got):\n%s", diff)
			}
			got, err := protocol.NewReader(bytes.NewReader(mustHex(tc.hex))).ReadMessage()
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			if diff := cmp.Diff(tc.msg, got); diff != "" {
				t.Errorf("ReadMessage (-want +got):\n%s", diff)
			}
		})
	}
}

// frame builds a raw frame with any type and payload, bypassing Encode.
func frame(t byte, payload string) []byte {
	b := make([]byte, protocol.HeaderSize+len(payload))
	b[0] = t
	binary.BigEndian.PutUint32(b[1:protocol.HeaderSize], uint32(len(payload)))
	copy(b[protocol.HeaderSize:], payload)
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestUnknownFrameTypesSkipped(t *testing.T) {
	ping := frame(byte(protocol.TypePing), `{"seq":1}`)
	pong := frame(byte(protocol.TypePong), `{"seq":2}`)
	tests := []struct {
		name  string
		input []byte
		want  []protocol.Message
	}{
		{
			name:  "before known",
			input: concat(frame(0x00, `{"x":1}`), ping),
			want:  []protocol.Message{&protocol.Ping{Seq: 1}},
		},
		{
			name:  "empty payload",
			input: concat(frame(0x03, ""), ping),
			want:  []protocol.Message{&protocol.Ping{Seq: 1}},
		},
		{
			name:  "payload not JSON",
			input: concat(ping, frame(0x42, "\xff\x00 not json ["), pong),
			want:  []protocol.Message{&protocol.Ping{Seq: 1}, &protocol.Pong{Seq: 2}},
		},
		{
			name:  "several in a row",
			input: concat(frame(0x13, "{}"), frame(0x80, "[]"), frame(0xFF, "null"), pong),
			want:  []protocol.Message{&protocol.Pong{Seq: 2}},
		},
		{
			name:  "payload of MaxFrameSize",
			input: concat(frame(0x7E, strings.Repeat("z", protocol.MaxFrameSize)), ping),
			want:  []protocol.Message{&protocol.Ping{Seq: 1}},
		},
		{
			name:  "only unknown",
			input: concat(frame(0x50, `{"future":true}`), frame(0x51, "")),
			want:  nil,
		},
		{
			name:  "unknown JSON fields ignored",
			input: frame(byte(protocol.TypePing), `{"future":{"a":[1,2]},"seq":3,"x":null}`),
			want:  []protocol.Message{&protocol.Ping{Seq: 3}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := protocol.NewReader(bytes.NewReader(tc.input))
			var got []protocol.Message
			for {
				m, err := r.ReadMessage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("ReadMessage: %v", err)
				}
				got = append(got, m)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeUnknownType(t *testing.T) {
	for _, typ := range []protocol.FrameType{0x00, 0x03, 0x13, 0x22, 0x42, 0x7E, 0x80, 0xFF} {
		t.Run(typ.String(), func(t *testing.T) {
			m, err := protocol.Decode(typ, []byte("not json"))
			if m != nil || err != nil {
				t.Errorf("Decode(%v) = %v, %v; want nil, nil", typ, m, err)
			}
		})
	}
}

// headerOnlyReader yields a header and then fails the test if anything more
// is read: the Reader must refuse an oversized length without touching (or
// allocating) the payload.
type headerOnlyReader struct {
	t   *testing.T
	hdr []byte
}

func (r *headerOnlyReader) Read(p []byte) (int, error) {
	if len(r.hdr) == 0 {
		r.t.Errorf("Reader read past the header of an oversized frame")
		return 0, io.ErrNoProgress
	}
	n := copy(p, r.hdr)
	r.hdr = r.hdr[n:]
	return n, nil
}

func TestOversizedLength(t *testing.T) {
	tests := []struct {
		name string
		typ  byte
		n    uint32
	}{
		{"known max+1", byte(protocol.TypePing), protocol.MaxFrameSize + 1},
		{"known 1MiB", byte(protocol.TypeHello), 1 << 20},
		{"known 0xFFFFFFFF", byte(protocol.TypeRegister), 0xFFFFFFFF},
		{"unknown max+1", 0x55, protocol.MaxFrameSize + 1},
		{"unknown 0x80000000", 0xFF, 0x80000000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := make([]byte, protocol.HeaderSize)
			hdr[0] = tc.typ
			binary.BigEndian.PutUint32(hdr[1:], tc.n)
			var m protocol.Message
			var err error
			allocs := testing.AllocsPerRun(1, func() {
				r := protocol.NewReader(&headerOnlyReader{t: t, hdr: hdr})
				m, err = r.ReadMessage()
			})
			if !errors.Is(err, protocol.ErrFrameTooLarge) || m != nil {
				t.Errorf("ReadMessage = %v, %v; want nil, ErrFrameTooLarge", m, err)
			}
			// NewReader's own bufio buffer and reader structs; never the
			// announced payload.
			if allocs > 8 {
				t.Errorf("ReadMessage made %v allocations, want a handful", allocs)
			}
		})
	}

	t.Run("MaxFrameSize accepted", func(t *testing.T) {
		payload := `{"seq":5` + strings.Repeat(" ", protocol.MaxFrameSize-len(`{"seq":5}`)) + `}`
		m, err := protocol.NewReader(bytes.NewReader(frame(byte(protocol.TypePing), payload))).ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		if diff := cmp.Diff(protocol.Message(&protocol.Ping{Seq: 5}), m); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("Decode", func(t *testing.T) {
		payload := []byte(`{"seq":5` + strings.Repeat(" ", protocol.MaxFrameSize) + `}`)
		if m, err := protocol.Decode(protocol.TypePing, payload); !errors.Is(err, protocol.ErrFrameTooLarge) {
			t.Errorf("Decode = %v, %v; want ErrFrameTooLarge", m, err)
		}
	})
}

func TestTruncated(t *testing.T) {
	ping := frame(byte(protocol.TypePing), `{"seq":1}`)
	unknown := frame(0x66, `{"later":1}`)
	tests := []struct {
		name  string
		input []byte
		want  []protocol.Message // read before the error
		err   error
	}{
		{"empty stream", nil, nil, io.EOF},
		{"after whole frame", ping, []protocol.Message{&protocol.Ping{Seq: 1}}, io.EOF},
		{"1 header byte", ping[:1], nil, io.ErrUnexpectedEOF},
		{"4 header bytes", ping[:4], nil, io.ErrUnexpectedEOF},
		{"header only", ping[:protocol.HeaderSize], nil, io.ErrUnexpectedEOF},
		{"partial payload", ping[:len(ping)-1], nil, io.ErrUnexpectedEOF},
		{"second frame partial header", concat(ping, ping[:3]), []protocol.Message{&protocol.Ping{Seq: 1}}, io.ErrUnexpectedEOF},
		{"second frame partial payload", concat(ping, ping[:7]), []protocol.Message{&protocol.Ping{Seq: 1}}, io.ErrUnexpectedEOF},
		{"unknown frame partial payload", unknown[:8], nil, io.ErrUnexpectedEOF},
		{"empty payload at end", frame(0x66, ""), nil, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := protocol.NewReader(bytes.NewReader(tc.input))
			var got []protocol.Message
			var err error
			for {
				var m protocol.Message
				if m, err = r.ReadMessage(); err != nil {
					break
				}
				got = append(got, m)
			}
			if err != tc.err {
				t.Errorf("error = %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadPayload(t *testing.T) {
	tests := []struct {
		name    string
		typ     protocol.FrameType
		payload string
	}{
		{"empty", protocol.TypePing, ""},
		{"null", protocol.TypePing, "null"},
		{"array", protocol.TypeHello, `[{"capability":1}]`},
		{"string", protocol.TypeRegister, `"api_key"`},
		{"number", protocol.TypePong, "1"},
		{"leading space", protocol.TypePing, ` {"seq":1}`},
		{"unterminated", protocol.TypeHelloOK, `{"capability":1`},
		{"trailing data", protocol.TypePing, `{"seq":1}{"seq":2}`},
		{"trailing garbage", protocol.TypeRefresh, `{"refresh_token":"x"}x`},
		{"wrong type string", protocol.TypePing, `{"seq":"1"}`},
		{"negative uint", protocol.TypePing, `{"seq":-1}`},
		{"fraction", protocol.TypeTokens, `{"expires_in":1.5}`},
		{"uint overflow", protocol.TypePong, `{"seq":18446744073709551616}`},
		{"code overflow", protocol.TypeError, `{"code":65536}`},
		{"bad base64", protocol.TypeHello, `{"public_key":"not base64!"}`},
		{"base64 without padding", protocol.TypeHello, `{"public_key":"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`},
		{"base64url", protocol.TypeHello, `{"signature":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="}`},
		{"tokens not object", protocol.TypeRegistered, `{"tokens":"x"}`},
		{"not UTF-8 JSON", protocol.TypeLogin, "{\xff}"},
	}
	next := &protocol.Pong{Seq: 99}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := protocol.Decode(tc.typ, []byte(tc.payload))
			if !errors.Is(err, protocol.ErrBadPayload) || m != nil {
				t.Errorf("Decode = %v, %v; want nil, ErrBadPayload", m, err)
			}

			var buf bytes.Buffer
			buf.Write(frame(byte(tc.typ), tc.payload))
			if err := protocol.WriteMessage(&buf, next); err != nil {
				t.Fatal(err)
			}
			r := protocol.NewReader(&buf)
			m, err = r.ReadMessage()
			if !errors.Is(err, protocol.ErrBadPayload) || m != nil {
				t.Errorf("ReadMessage = %v, %v; want nil, ErrBadPayload", m, err)
			}
			// The payload was consumed: the stream is still in step.
			m, err = r.ReadMessage()
			if err != nil {
				t.Fatalf("ReadMessage after bad payload: %v", err)
			}
			if diff := cmp.Diff(protocol.Message(next), m); diff != "" {
				t.Errorf("next message (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeLenient pins what a receiver tolerates, so firmware authors know
// what the broker accepts (PROTOCOL.md, "JSON rules").
func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name    string
		typ     protocol.FrameType
		payload string
		want    protocol.Message
	}{
		{"empty object", protocol.TypePing, `{}`, &protocol.Ping{}},
		{"whitespace inside", protocol.TypePing, "{ \"seq\" :\t3 }\r\n", &protocol.Ping{Seq: 3}},
		{"null field", protocol.TypeRegister, `{"api_key":null,"client_type":"server"}`,
			&protocol.Register{ClientType: "server"}},
		{"unicode escapes", protocol.TypeError, `{"code":2,"message":"\u00e9\u003c"}`,
			&protocol.Error{Code: protocol.CodeBadRequest, Message: "é<"}},
		{"unknown code", protocol.TypeError, `{"code":65535}`, &protocol.Error{Code: 65535}},
		{"empty base64", protocol.TypeHello, `{"public_key":""}`, &protocol.Hello{PublicKey: []byte{}}},
		{"duplicate key last wins", protocol.TypePing, `{"seq":1,"seq":2}`, &protocol.Ping{Seq: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := protocol.Decode(tc.typ, []byte(tc.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeTooLarge(t *testing.T) {
	// {"refresh_token":"…"} has 20 bytes around the token.
	const overhead = len(`{"refresh_token":""}`)
	tests := []struct {
		name string
		msg  protocol.Message
		err  error
	}{
		{"exactly MaxFrameSize", &protocol.Refresh{RefreshToken: strings.Repeat("a", protocol.MaxFrameSize-overhead)}, nil},
		{"one byte over", &protocol.Refresh{RefreshToken: strings.Repeat("a", protocol.MaxFrameSize-overhead+1)}, protocol.ErrFrameTooLarge},
		{"long description", &protocol.Register{Description: strings.Repeat("d", protocol.MaxFrameSize)}, protocol.ErrFrameTooLarge},
		// Each '<' is escaped to 6 bytes, so a short string can overflow.
		{"escaping grows", &protocol.Error{Message: strings.Repeat("<", protocol.MaxFrameSize/6+1)}, protocol.ErrFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := protocol.Encode(tc.msg)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Encode error = %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				if b != nil {
					t.Errorf("Encode returned %d bytes with an error", len(b))
				}
				var buf bytes.Buffer
				if err := protocol.WriteMessage(&buf, tc.msg); !errors.Is(err, tc.err) {
					t.Errorf("WriteMessage error = %v, want %v", err, tc.err)
				}
				if buf.Len() != 0 {
					t.Errorf("WriteMessage wrote %d bytes of a failed frame", buf.Len())
				}
				return
			}
			if got := len(b) - protocol.HeaderSize; got != protocol.MaxFrameSize {
				t.Errorf("payload length = %d, want %d", got, protocol.MaxFrameSize)
			}
			got, err := protocol.NewReader(bytes.NewReader(b)).ReadMessage()
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			if diff := cmp.Diff(tc.msg, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFrameTypeString(t *testing.T) {
	tests := []struct {
		typ  protocol.FrameType
		want string
	}{
		{protocol.TypeHello, "HELLO"},
		{protocol.TypeHelloOK, "HELLO_OK"},
		{protocol.TypeRegister, "REGISTER"},
		{protocol.TypeRegistered, "REGISTERED"},
		{protocol.TypeDecision, "DECISION"},
		{protocol.TypeRefresh, "REFRESH"},
		{protocol.TypeTokens, "TOKENS"},
		{protocol.TypeLogin, "LOGIN"},
		{protocol.TypePing, "PING"},
		{protocol.TypePong, "PONG"},
		{protocol.TypeError, "ERROR"},
		{0x00, "0x00"},
		{0x13, "0x13"},
		{0xFF, "0xff"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.typ.String(); got != tc.want {
				t.Errorf("FrameType(%#x).String() = %q, want %q", uint8(tc.typ), got, tc.want)
			}
		})
	}
}

// TestFrameTypeNumbers pins the numbers: they are append-only.
func TestFrameTypeNumbers(t *testing.T) {
	got := map[string]uint8{}
	for _, typ := range []protocol.FrameType{protocol.TypeHello, protocol.TypeHelloOK, protocol.TypeRegister,
		protocol.TypeRegistered, protocol.TypeDecision, protocol.TypeRefresh, protocol.TypeTokens,
		protocol.TypeLogin, protocol.TypePing, protocol.TypePong, protocol.TypeError} {
		got[typ.String()] = uint8(typ)
	}
	want := map[string]uint8{"HELLO": 0x01, "HELLO_OK": 0x02, "REGISTER": 0x10, "REGISTERED": 0x11,
		"DECISION": 0x12, "REFRESH": 0x20, "TOKENS": 0x21, "LOGIN": 0x30, "PING": 0x40, "PONG": 0x41, "ERROR": 0x7F}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frame type numbers (-want +got):\n%s", diff)
	}
}

func TestCodeString(t *testing.T) {
	tests := []struct {
		code protocol.Code
		num  uint16
		want string
	}{
		{protocol.CodeInternal, 1, "internal"},
		{protocol.CodeBadRequest, 2, "bad_request"},
		{protocol.CodeUnsupportedVersion, 3, "unsupported_version"},
		{protocol.CodeInvalidClient, 4, "invalid_client"},
		{protocol.CodeProofRequired, 5, "proof_required"},
		{protocol.CodeAccessDenied, 6, "access_denied"},
		{protocol.CodeInvalidGrant, 7, "invalid_grant"},
		{protocol.CodeUnknownUser, 8, "unknown_user"},
		{protocol.CodeLoginRefused, 9, "login_refused"},
		{protocol.CodeRateLimited, 10, "rate_limited"},
		{protocol.CodeFrameTooLarge, 11, "frame_too_large"},
		{protocol.CodeConflict, 12, "conflict"},
		{protocol.CodeUnavailable, 13, "unavailable"},
		{protocol.CodeKeyLimited, 14, "key_limited"},
		{0, 0, "code_0"},
		{15, 15, "code_15"},
		{65535, 65535, "code_65535"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if uint16(tc.code) != tc.num {
				t.Errorf("%s = %d, want %d (codes are append-only)", tc.want, uint16(tc.code), tc.num)
			}
			if got := tc.code.String(); got != tc.want {
				t.Errorf("Code(%d).String() = %q, want %q", tc.num, got, tc.want)
			}
		})
	}
}

func TestErrorError(t *testing.T) {
	tests := []struct {
		err  *protocol.Error
		want string
	}{
		{&protocol.Error{Code: protocol.CodeInvalidClient}, "invalid_client"},
		{&protocol.Error{Code: protocol.CodeConflict, Message: "endpoint is rejected"}, "conflict: endpoint is rejected"},
		{&protocol.Error{Code: 99, Message: "new"}, "code_99: new"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			var err error = tc.err
			if got := err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHelloSigningInput(t *testing.T) {
	tests := []struct {
		name     string
		exporter []byte
		want     []byte
	}{
		{"vector", vecExporter, vecSigningInput},
		{"layout", bytes.Repeat([]byte{0xAB}, 32),
			append([]byte("edgetrust hello v1\x00"), bytes.Repeat([]byte{0xAB}, 32)...)},
		{"empty", nil, []byte("edgetrust hello v1\x00")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := bytes.Clone(tc.exporter)
			got := protocol.HelloSigningInput(exp)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("HelloSigningInput (-want +got):\n%s", diff)
			}
			if len(exp) > 0 {
				exp[0] ^= 0xFF
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("result aliases its argument (-want +got):\n%s", diff)
				}
			}
		})
	}

	// The signature in PROTOCOL.md's HELLO example (Ed25519 is deterministic).
	t.Run("signature vector", func(t *testing.T) {
		priv := ed25519.NewKeyFromSeed(vecSeed)
		if diff := cmp.Diff(vecPublicKey, []byte(priv.Public().(ed25519.PublicKey))); diff != "" {
			t.Errorf("public key (-want +got):\n%s", diff)
		}
		sig := ed25519.Sign(priv, protocol.HelloSigningInput(vecExporter))
		if diff := cmp.Diff(vecSignature, sig); diff != "" {
			t.Errorf("signature (-want +got):\n%s", diff)
		}
	})

	// The cnf.jkt of that key (RFC 7638 over the RFC 8037 OKP JWK); equals
	// RFC 8037 Appendix A.3.
	t.Run("jkt vector", func(t *testing.T) {
		jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(vecPublicKey) + `"}`
		sum := sha256.Sum256([]byte(jwk))
		if got, want := base64.RawURLEncoding.EncodeToString(sum[:]), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
			t.Errorf("jkt = %s, want %s", got, want)
		}
	})
}

// testCert returns a self-signed Ed25519 certificate for "broker.test".
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "broker.test"},
		DNSNames:              []string{"broker.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, pool
}

// tlsPair runs a TLS 1.3 handshake over net.Pipe and returns both ends'
// connection states.
func tlsPair(t *testing.T, cert tls.Certificate, roots *x509.CertPool) (client, server tls.ConnectionState) {
	t.Helper()
	c, s := net.Pipe()
	t.Cleanup(func() { c.Close(); s.Close() })
	sc := tls.Server(s, &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{protocol.ALPN},
		MinVersion:   tls.VersionTLS13,
	})
	cc := tls.Client(c, &tls.Config{
		RootCAs:    roots,
		ServerName: "broker.test",
		NextProtos: []string{protocol.ALPN},
		MinVersion: tls.VersionTLS13,
	})
	errc := make(chan error, 1)
	go func() { errc <- sc.Handshake() }()
	if err := cc.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return cc.ConnectionState(), sc.ConnectionState()
}

func TestExporter(t *testing.T) {
	cert, roots := testCert(t)
	cs1, ss1 := tlsPair(t, cert, roots)
	cs2, ss2 := tlsPair(t, cert, roots)

	if cs1.Version != tls.VersionTLS13 || cs1.NegotiatedProtocol != protocol.ALPN {
		t.Fatalf("negotiated version %x ALPN %q, want TLS 1.3 and %q", cs1.Version, cs1.NegotiatedProtocol, protocol.ALPN)
	}
	exporter := func(t *testing.T, cs tls.ConnectionState) []byte {
		t.Helper()
		b, err := protocol.Exporter(cs)
		if err != nil {
			t.Fatalf("Exporter: %v", err)
		}
		if len(b) != protocol.ExporterLength {
			t.Fatalf("Exporter returned %d bytes, want %d", len(b), protocol.ExporterLength)
		}
		return b
	}
	c1, s1 := exporter(t, cs1), exporter(t, ss1)
	c2, s2 := exporter(t, cs2), exporter(t, ss2)

	t.Run("both ends agree", func(t *testing.T) {
		if diff := cmp.Diff(c1, s1); diff != "" {
			t.Errorf("connection 1 client vs server (-client +server):\n%s", diff)
		}
		if diff := cmp.Diff(c2, s2); diff != "" {
			t.Errorf("connection 2 client vs server (-client +server):\n%s", diff)
		}
	})
	t.Run("differs per connection", func(t *testing.T) {
		if bytes.Equal(c1, c2) {
			t.Errorf("two connections have the same exporter value %x", c1)
		}
	})
	t.Run("label and empty context", func(t *testing.T) {
		// Firmware TLS stacks take the context as (pointer, length); in TLS
		// 1.3 an absent and an empty context are the same.
		want, err := cs1.ExportKeyingMaterial("EXPORTER-edgetrust-hello", []byte{}, 32)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, c1); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("hello proof verifies only on its connection", func(t *testing.T) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sig := ed25519.Sign(priv, protocol.HelloSigningInput(c1))
		if !ed25519.Verify(pub, protocol.HelloSigningInput(s1), sig) {
			t.Errorf("broker could not verify the Hello signature of its own connection")
		}
		if ed25519.Verify(pub, protocol.HelloSigningInput(s2), sig) {
			t.Errorf("Hello signature from connection 1 verified on connection 2")
		}
	})
}

// TestProtocolDocExamples keeps PROTOCOL.md honest: every JSON example under
// a "### NAME (0xNN)" heading must decode as that frame type and re-encode to
// exactly the same bytes, and every hex dump must be one complete frame that
// re-encodes to itself.
func TestProtocolDocExamples(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`^### .*?\((0x[0-9A-F]{2})\)`)
	dumpLine := regexp.MustCompile(`^[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+)`)
	var (
		typ            protocol.FrameType
		haveType       bool
		inBlock        string // "json", "dump" or ""
		block          []string
		jsonN, dumpN   int
		section, fence string
	)
	check := func(kind string, lines []string) {
		switch kind {
		case "json":
			jsonN++
			payload := strings.Join(lines, "\n")
			t.Run(fmt.Sprintf("json %d %s", jsonN, section), func(t *testing.T) {
				if !haveType {
					t.Fatalf("JSON example outside a frame section: %s", payload)
				}
				m, err := protocol.Decode(typ, []byte(payload))
				if err != nil || m == nil {
					t.Fatalf("Decode(%v, %s) = %v, %v", typ, payload, m, err)
				}
				b, err := protocol.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(payload, string(b[protocol.HeaderSize:])); diff != "" {
					t.Errorf("example is not what Encode writes (-doc +Encode):\n%s", diff)
				}
			})
		case "dump":
			var raw []byte
			for _, l := range lines {
				m := dumpLine.FindStringSubmatch(l)
				if m == nil {
					return // not a hex dump
				}
				raw = append(raw, mustHex(strings.ReplaceAll(m[1], " ", ""))...)
			}
			dumpN++
			t.Run(fmt.Sprintf("dump %d %s", dumpN, section), func(t *testing.T) {
				m, err := protocol.NewReader(bytes.NewReader(raw)).ReadMessage()
				if err != nil {
					t.Fatalf("ReadMessage(%x): %v", raw, err)
				}
				b, err := protocol.Encode(m)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(hex.EncodeToString(raw), hex.EncodeToString(b)); diff != "" {
					t.Errorf("dump is not one frame as Encode writes it (-doc +Encode):\n%s", diff)
				}
			})
		}
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if inBlock != "" {
			if line == fence {
				check(inBlock, block)
				inBlock, block = "", nil
				continue
			}
			block = append(block, line)
			continue
		}
		switch {
		case strings.HasPrefix(line, "```json"):
			inBlock, fence = "json", "```"
		case line == "```":
			inBlock, fence = "dump", "```"
		case strings.HasPrefix(line, "#"):
			section = strings.TrimLeft(line, "# ")
			haveType = false
			if m := heading.FindStringSubmatch(line); m != nil {
				n, err := strconv.ParseUint(m[1][2:], 16, 8)
				if err != nil {
					t.Fatal(err)
				}
				typ, haveType = protocol.FrameType(n), true
			}
		}
	}
	if jsonN < 11 || dumpN < 3 {
		t.Errorf("found %d JSON examples and %d hex dumps in PROTOCOL.md; want at least 11 and 3", jsonN, dumpN)
	}
}

// A payload that fails to decode is described without its values: a secret
// sent with the wrong JSON type must not reach an error or a log.
func TestDecodeErrorQuotesNoValues(t *testing.T) {
	for name, payload := range map[string]string{
		"number for a string": `{"api_key": 123456789}`,
		"syntax":              `{"api_key": "etk_abc_s3cr3t" x}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := protocol.Decode(protocol.TypeRegister, []byte(payload))
			if !errors.Is(err, protocol.ErrBadPayload) {
				t.Fatalf("Decode = %v, want ErrBadPayload", err)
			}
			for _, secret := range []string{"123456789", "s3cr3t"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes the payload", err)
				}
			}
		})
	}
}
