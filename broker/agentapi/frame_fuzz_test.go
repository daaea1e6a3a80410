package agentapi

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol"
)

// readOutcome is one result of reading a message: its type, or the class
// of error.
type readOutcome struct {
	Type protocol.FrameType
	Err  string
}

func errClass(err error) string {
	switch {
	case err == io.EOF:
		return "eof"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected eof"
	case errors.Is(err, protocol.ErrFrameTooLarge):
		return "too large"
	case errors.Is(err, protocol.ErrBadPayload):
		return "bad payload"
	}
	return "other: " + err.Error()
}

// readAllWith reads messages until an error that ends the stream.
func readAllWith(read func() (protocol.Message, error)) []readOutcome {
	var out []readOutcome
	for {
		m, err := read()
		if err != nil {
			out = append(out, readOutcome{Err: errClass(err)})
			if errors.Is(err, protocol.ErrBadPayload) {
				continue // the payload was consumed: the stream is in step
			}
			return out
		}
		out = append(out, readOutcome{Type: m.FrameType()})
	}
}

// FuzzReadMessage: the broker's own frame reader (readFrame and
// readMessage, which pool their buffers) reads any byte stream exactly as
// protocol.Reader does: the same messages, the same errors, never a panic.
func FuzzReadMessage(f *testing.F) {
	ping, _ := protocol.Encode(&protocol.Ping{Seq: 7})
	login, _ := protocol.Encode(&protocol.Login{APIKey: "etk_x", Type: "upn", UPN: "a@b"})
	f.Add(ping)
	f.Add(append(append([]byte{0x99, 0, 0, 0, 2, '{', '}'}, ping...), login...))
	f.Add([]byte{byte(protocol.TypeLogin), 0, 0, 0, 3, '[', '1', ']'})
	f.Add([]byte{byte(protocol.TypePing), 0x00, 0x01, 0x00, 0x01})
	f.Add([]byte{byte(protocol.TypePing), 0, 0})
	f.Add(login[:len(login)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		mine := readAllWith(func() (protocol.Message, error) { return readMessage(src) })
		theirs := readAllWith(protocol.NewReader(bytes.NewReader(data)).ReadMessage)
		if d := cmp.Diff(theirs, mine); d != "" {
			t.Fatalf("readMessage vs protocol.Reader (-reader +readMessage):\n%s", d)
		}
	})
}
