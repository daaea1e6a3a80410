package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus files in testdata/fuzz")

// seedMessages is one filled-in message of every type.
func seedMessages() []Message {
	tok := &Tokens{AccessToken: "eyJhbGciOiJFZERTQSJ9.e30.c2ln", TokenType: "Bearer", ExpiresIn: 900,
		RefreshToken: "etr_0123456789abcdef", RefreshExpiresIn: 7776000}
	return []Message{
		&Hello{Capability: 1, ClientID: "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41", KeyType: KeyTypeEd25519,
			PublicKey: bytes.Repeat([]byte{0xd7}, 32), Signature: bytes.Repeat([]byte{0x3d}, 64), Software: "edgetrust-agent/1.0.0"},
		&HelloOK{Capability: 1, ServerTime: 1767225600123},
		&Register{APIKey: "etk_abc_def", AccountID: "acct-1", ClientType: "printer", Description: "lobby",
			Hostname: "prn-1", OS: "linux", Version: "1.0.0"},
		&Registered{EndpointID: "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41", State: StateTrusted, AccountID: "acct-1", Tokens: tok},
		&Decision{EndpointID: "0b6e5c52-8f4e-4d2a-9d2c-3f1a7c9e2b41", State: StateDeleted},
		&Refresh{RefreshToken: "etr_0123456789abcdef"},
		tok,
		&Login{APIKey: "etk_abc_def", DeviceToken: "a.b.c", Type: "upn", UPN: "alice@corp.example"},
		&Ping{Seq: 1},
		&Pong{Seq: 1},
		&Error{Code: CodeProofRequired, Message: "send HELLO first"},
	}
}

// seedMalformed are malformed or unusual payloads: a receiver refuses,
// skips or normalises them without harm.
var seedMalformed = []struct {
	name    string
	typ     FrameType
	payload string
}{
	{"empty", TypeHello, ""},
	{"null", TypeRegister, "null"},
	{"array", TypePing, "[1]"},
	{"leading_space", TypePing, ` {"seq":1}`},
	{"unterminated", TypeRegistered, `{"tokens":{"access_token":"x"`},
	{"wrong_type", TypeError, `{"code":"4"}`},
	{"overflow", TypePong, `{"seq":18446744073709551616}`},
	{"bad_base64", TypeHello, `{"public_key":"@@@"}`},
	{"html_escapes", TypeLogin, `{"username":"<&>","upn":"\u2028"}`},
	{"invalid_utf8", TypeDecision, "{\"state\":\"\xff\xfe\"}"},
	{"unknown_type", 0x99, `{"future":1}`},
	{"unknown_type_garbage", 0x00, "\x00\x01\x02"},
}

// rawFrame builds a frame with any type, payload and announced length.
func rawFrame(t FrameType, n uint32, payload string) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	b[0] = byte(t)
	binary.BigEndian.PutUint32(b[1:], n)
	return append(b, payload...)
}

func frameOf(t FrameType, payload string) []byte { return rawFrame(t, uint32(len(payload)), payload) }

// seedStreams are byte streams for FuzzReader.
func seedStreams() map[string][]byte {
	var all bytes.Buffer
	for _, m := range seedMessages() {
		if err := WriteMessage(&all, m); err != nil {
			panic(err)
		}
	}
	ping := frameOf(TypePing, `{"seq":2}`)
	s := map[string][]byte{
		"empty":                 nil,
		"all_types":             all.Bytes(),
		"unknown_then_ping":     append(frameOf(0x55, `{"x":1}`), ping...),
		"bad_payload_then_ping": append(frameOf(TypePing, `{"seq":"x"}`), ping...),
		"oversized":             rawFrame(TypeHello, MaxFrameSize+1, `{}`),
		"huge_length":           rawFrame(0x77, 0xFFFFFFFF, ""),
		"truncated_header":      ping[:3],
		"truncated_payload":     ping[:len(ping)-2],
		"empty_payloads":        append(frameOf(0x55, ""), frameOf(TypePong, "")...),
	}
	for i, m := range seedMalformed {
		s[fmt.Sprintf("malformed_%02d_%s", i, m.name)] = append(frameOf(m.typ, m.payload), ping...)
	}
	return s
}

// checkRoundTrip asserts that a decoded message re-encodes to a frame that
// decodes to an equal message, and that encoding is then a fixed point.
func checkRoundTrip(t *testing.T, typ FrameType, m Message) {
	t.Helper()
	if got := m.FrameType(); got != typ {
		t.Fatalf("Decode(%v) returned a %T (%v)", typ, m, got)
	}
	b, err := Encode(m)
	if errors.Is(err, ErrFrameTooLarge) {
		// JSON escaping (<, >, &, U+2028, invalid UTF-8) can make a legal
		// MaxFrameSize payload longer when re-encoded; nothing to compare.
		return
	}
	if err != nil {
		t.Fatalf("Encode(%#v): %v", m, err)
	}
	m2, err := Decode(FrameType(b[0]), b[HeaderSize:])
	if err != nil {
		t.Fatalf("Decode(Encode(m)) with payload %q: %v", b[HeaderSize:], err)
	}
	// reflect.DeepEqual first: cmp.Diff is slow and this is the hot path.
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("Decode(Encode(m)) (-want +got):\n%s", cmp.Diff(m, m2))
	}
	b2, err := Encode(m2)
	if err != nil {
		t.Fatalf("second Encode: %v", err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("Encode is not stable:\n%q\n%q", b, b2)
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range seedMessages() {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[0], b[HeaderSize:])
	}
	for _, m := range seedMalformed {
		f.Add(byte(m.typ), []byte(m.payload))
	}
	f.Add(byte(TypeHello), []byte(`{"capability":1,"public_key":"","signature":null,"CLIENT_ID":"x"}`))
	f.Add(byte(TypeRegistered), []byte(`{"tokens":{},"state":"pending","extra":[{}]}`))

	f.Fuzz(func(t *testing.T, typ byte, payload []byte) {
		m, err := Decode(FrameType(typ), payload)
		switch {
		case err != nil:
			if m != nil {
				t.Fatalf("Decode returned both %v and %v", m, err)
			}
			if !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("Decode error %v wraps neither ErrBadPayload nor ErrFrameTooLarge", err)
			}
		case m == nil:
			if newMessage(FrameType(typ)) != nil {
				t.Fatalf("Decode(%v) returned nil, nil for a known type", FrameType(typ))
			}
		default:
			checkRoundTrip(t, FrameType(typ), m)
		}
	})
}

type readResult struct {
	Msg Message
	Err string
}

// readAll reads r until an error that ends the stream, checking that the
// Reader never holds a buffer larger than MaxFrameSize.
func readAll(t *testing.T, src io.Reader, limit int) []readResult {
	t.Helper()
	r := NewReader(src)
	var out []readResult
	for i := 0; ; i++ {
		if i > limit {
			t.Fatalf("ReadMessage returned more than %d results from %d bytes: no progress", limit, limit*HeaderSize)
		}
		m, err := r.ReadMessage()
		if c := cap(r.buf); c > MaxFrameSize {
			t.Fatalf("Reader buffer grew to %d bytes, more than MaxFrameSize", c)
		}
		if err == nil {
			if m == nil {
				t.Fatal("ReadMessage returned nil, nil")
			}
			checkRoundTrip(t, m.FrameType(), m)
			out = append(out, readResult{Msg: m})
			continue
		}
		if m != nil {
			t.Fatalf("ReadMessage returned both %v and %v", m, err)
		}
		out = append(out, readResult{Err: err.Error()})
		switch {
		case errors.Is(err, ErrBadPayload):
			continue // the payload was consumed; the stream is still in step
		case err == io.EOF, err == io.ErrUnexpectedEOF, errors.Is(err, ErrFrameTooLarge):
			return out
		default:
			t.Fatalf("ReadMessage: unexpected error %v", err)
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, data := range seedStreams() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		limit := len(data)/HeaderSize + 1
		whole := readAll(t, bytes.NewReader(data), limit)
		// The same bytes delivered one at a time must give the same results.
		bytewise := readAll(t, iotest.OneByteReader(bytes.NewReader(data)), limit)
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("whole vs one-byte reads (-whole +bytewise):\n%s", cmp.Diff(whole, bytewise))
		}
	})
}

// TestSeedCorpus keeps testdata/fuzz in step with the seeds above; run
// `go test ./protocol -run TestSeedCorpus -update-corpus` after changing them.
func TestSeedCorpus(t *testing.T) {
	files := map[string][]byte{}
	for i, m := range seedMessages() {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("valid_%02d_%s", i, strings.ToLower(m.FrameType().String()))
		files[filepath.Join("FuzzDecode", name)] = corpusFile(b[0], b[HeaderSize:])
	}
	for i, m := range seedMalformed {
		files[filepath.Join("FuzzDecode", fmt.Sprintf("malformed_%02d_%s", i, m.name))] = corpusFile(byte(m.typ), []byte(m.payload))
	}
	for name, data := range seedStreams() {
		files[filepath.Join("FuzzReader", name)] = corpusFile(data)
	}
	for name, want := range files {
		path := filepath.Join("testdata", "fuzz", name)
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("seed corpus file missing (run with -update-corpus): %v", err)
			continue
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s is stale, run with -update-corpus (-want +got):\n%s", path, diff)
		}
	}
}

// corpusFile renders values in the "go test fuzz v1" format.
func corpusFile(vals ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", rune(v))
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		default:
			panic(fmt.Sprintf("corpusFile: unsupported %T", v))
		}
	}
	return []byte(b.String())
}
