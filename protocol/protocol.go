// Package protocol is the wire contract between edgetrust agents and the broker.
//
// It depends only on the standard library so that both sides (and firmware
// authors reading PROTOCOL.md) share one definition. A connection is QUIC with
// ALPN "edgetrust/1". Every stream carries frames: a 1-byte frame type, a
// 4-byte big-endian payload length, and a UTF-8 JSON object as payload.
// Unknown frame types are skipped and unknown JSON fields are ignored, so
// additions never break older peers; breaking changes get a new ALPN.
package protocol

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ALPN is the TLS application protocol of version 1 of the agent protocol.
const ALPN = "edgetrust/1"

// Capability is the feature level this implementation speaks. It grows by one
// for each backwards-compatible addition; peers use the lower of the two.
const Capability = 1

// MaxFrameSize is the largest payload a peer may send. A larger length is an
// error on that stream; the connection and other streams carry on.
const MaxFrameSize = 64 << 10

// HeaderSize is the size of a frame header: type (1 byte) + length (4 bytes).
const HeaderSize = 5

// ExporterLabel and ExporterLength define the TLS exporter value (RFC 5705 /
// RFC 8446 §7.5) that an agent signs once per connection to prove it holds
// its key (SPEC T3).
const (
	ExporterLabel  = "EXPORTER-edgetrust-hello"
	ExporterLength = 32
)

// helloContext prefixes the exporter value in the signed message so a
// signature made here can never be replayed as a signature of anything else.
const helloContext = "edgetrust hello v1\x00"

// FrameType identifies the message carried in a frame.
type FrameType uint8

// Frame types. Numbers are append-only.
const (
	TypeHello      FrameType = 0x01 // agent -> broker, first frame of the control stream
	TypeHelloOK    FrameType = 0x02 // broker -> agent
	TypeRegister   FrameType = 0x10 // agent -> broker, on the control stream
	TypeRegistered FrameType = 0x11 // broker -> agent, answer to Register
	TypeDecision   FrameType = 0x12 // broker -> agent, pushed on the control stream
	TypeRefresh    FrameType = 0x20 // agent -> broker, on a request stream
	TypeTokens     FrameType = 0x21 // broker -> agent, answer to Refresh and Login
	TypeLogin      FrameType = 0x30 // agent -> broker, on a request stream
	TypePing       FrameType = 0x40 // either way, on the control stream
	TypePong       FrameType = 0x41 // answer to Ping
	TypeError      FrameType = 0x7F // broker -> agent, answer to any request
)

func (t FrameType) String() string {
	switch t {
	case TypeHello:
		return "HELLO"
	case TypeHelloOK:
		return "HELLO_OK"
	case TypeRegister:
		return "REGISTER"
	case TypeRegistered:
		return "REGISTERED"
	case TypeDecision:
		return "DECISION"
	case TypeRefresh:
		return "REFRESH"
	case TypeTokens:
		return "TOKENS"
	case TypeLogin:
		return "LOGIN"
	case TypePing:
		return "PING"
	case TypePong:
		return "PONG"
	case TypeError:
		return "ERROR"
	}
	return fmt.Sprintf("0x%02x", uint8(t))
}

// Message is a decoded frame payload.
type Message interface {
	FrameType() FrameType
}

// Endpoint states as they appear on the wire.
const (
	StatePending   = "pending"
	StateTrusted   = "trusted"
	StateRejected  = "rejected"
	StateUntrusted = "untrusted"
	StateDeleted   = "deleted"
)

// Key types of an endpoint's public key.
const (
	KeyTypeEd25519 = "ed25519"
)

// Hello opens the control stream. PublicKey is the endpoint's public key
// (for ed25519 the raw 32 bytes); Signature is the key's signature over
// HelloSigningInput(exporter) of this connection.
type Hello struct {
	Capability int    `json:"capability"`
	ClientID   string `json:"client_id"`
	KeyType    string `json:"key_type"`
	PublicKey  []byte `json:"public_key"`
	Signature  []byte `json:"signature"`
	Software   string `json:"software,omitempty"`
}

// HelloOK accepts a Hello. Capability is the level both sides will use.
type HelloOK struct {
	Capability int   `json:"capability"`
	ServerTime int64 `json:"server_time"` // Unix milliseconds
}

// Register asks the broker to register (or re-register) the endpoint proven
// by the connection's Hello.
type Register struct {
	APIKey      string `json:"api_key"`
	AccountID   string `json:"account_id,omitempty"` // target account when the key belongs to an ancestor
	ClientType  string `json:"client_type"`
	Description string `json:"description,omitempty"`
	Hostname    string `json:"hostname,omitempty"`
	OS          string `json:"os,omitempty"`
	Version     string `json:"version,omitempty"`
}

// Registered answers Register with the endpoint's state. Tokens is set only
// when the state is trusted.
type Registered struct {
	EndpointID string  `json:"endpoint_id"`
	State      string  `json:"state"`
	AccountID  string  `json:"account_id,omitempty"`
	Tokens     *Tokens `json:"tokens,omitempty"`
}

// Decision is pushed on the control stream whenever an admin changes the
// endpoint's state. Tokens is set only when the new state is trusted. After a
// Decision with state "deleted" the broker closes the connection.
type Decision struct {
	EndpointID string  `json:"endpoint_id"`
	State      string  `json:"state"`
	Tokens     *Tokens `json:"tokens,omitempty"`
}

// Refresh exchanges a single-use refresh token for a new token pair.
type Refresh struct {
	RefreshToken string `json:"refresh_token"`
}

// Tokens carries an access token and, usually, a new refresh token.
type Tokens struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"` // seconds
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"` // seconds
}

// Login asks for a user token for the person logged in on the device.
type Login struct {
	APIKey      string `json:"api_key"`
	DeviceToken string `json:"device_token,omitempty"`
	Type        string `json:"type"`
	Username    string `json:"username,omitempty"`
	Domain      string `json:"domain,omitempty"`
	UPN         string `json:"upn,omitempty"`
}

// Ping keeps the control stream alive and tells the broker the endpoint is seen.
type Ping struct {
	Seq uint64 `json:"seq"`
}

// Pong answers Ping with the same Seq.
type Pong struct {
	Seq uint64 `json:"seq"`
}

// Error answers a request that failed. Message is safe to show; Code is one of
// the Code* constants and is what programs should act on.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message,omitempty"`
	// RetryAfter is how many seconds to wait before trying again (sent
	// with CodeKeyLimited; 0 = not said).
	RetryAfter uint32 `json:"retry_after,omitempty"`
}

func (*Hello) FrameType() FrameType      { return TypeHello }
func (*HelloOK) FrameType() FrameType    { return TypeHelloOK }
func (*Register) FrameType() FrameType   { return TypeRegister }
func (*Registered) FrameType() FrameType { return TypeRegistered }
func (*Decision) FrameType() FrameType   { return TypeDecision }
func (*Refresh) FrameType() FrameType    { return TypeRefresh }
func (*Tokens) FrameType() FrameType     { return TypeTokens }
func (*Login) FrameType() FrameType      { return TypeLogin }
func (*Ping) FrameType() FrameType       { return TypePing }
func (*Pong) FrameType() FrameType       { return TypePong }
func (*Error) FrameType() FrameType      { return TypeError }

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Code is a numeric error code. Codes are append-only.
type Code uint16

// Error codes.
const (
	CodeInternal           Code = 1  // the broker failed; retry later
	CodeBadRequest         Code = 2  // malformed or unexpected frame
	CodeUnsupportedVersion Code = 3  // capability too old
	CodeInvalidClient      Code = 4  // API key refused (every reason looks the same)
	CodeProofRequired      Code = 5  // no valid Hello on this connection
	CodeAccessDenied       Code = 6  // endpoint not trusted now
	CodeInvalidGrant       Code = 7  // refresh or device token invalid, expired or spent
	CodeUnknownUser        Code = 8  // no such user and the account does not create users
	CodeLoginRefused       Code = 9  // the device may not vouch for this user (SPEC S3a)
	CodeRateLimited        Code = 10 // slow down
	CodeFrameTooLarge      Code = 11 // frame longer than MaxFrameSize
	CodeConflict           Code = 12 // the request conflicts with the endpoint's state
	CodeUnavailable        Code = 13 // the broker cannot read fresh state now; treat it as unreachable
	CodeKeyLimited         Code = 14 // too many failed key presentations from this address or for this key; wait RetryAfter
)

func (c Code) String() string {
	switch c {
	case CodeInternal:
		return "internal"
	case CodeBadRequest:
		return "bad_request"
	case CodeUnsupportedVersion:
		return "unsupported_version"
	case CodeInvalidClient:
		return "invalid_client"
	case CodeProofRequired:
		return "proof_required"
	case CodeAccessDenied:
		return "access_denied"
	case CodeInvalidGrant:
		return "invalid_grant"
	case CodeUnknownUser:
		return "unknown_user"
	case CodeLoginRefused:
		return "login_refused"
	case CodeRateLimited:
		return "rate_limited"
	case CodeFrameTooLarge:
		return "frame_too_large"
	case CodeConflict:
		return "conflict"
	case CodeUnavailable:
		return "unavailable"
	case CodeKeyLimited:
		return "key_limited"
	}
	return fmt.Sprintf("code_%d", uint16(c))
}

// Errors returned by ReadMessage and Decode.
var (
	ErrFrameTooLarge = errors.New("protocol: frame larger than MaxFrameSize")
	ErrBadPayload    = errors.New("protocol: payload is not a valid JSON object for its frame type")
)

// newMessage returns an empty message for a known frame type, or nil.
func newMessage(t FrameType) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeHelloOK:
		return &HelloOK{}
	case TypeRegister:
		return &Register{}
	case TypeRegistered:
		return &Registered{}
	case TypeDecision:
		return &Decision{}
	case TypeRefresh:
		return &Refresh{}
	case TypeTokens:
		return &Tokens{}
	case TypeLogin:
		return &Login{}
	case TypePing:
		return &Ping{}
	case TypePong:
		return &Pong{}
	case TypeError:
		return &Error{}
	}
	return nil
}

// Decode parses the payload of a frame of type t. It returns (nil, nil) for
// an unknown frame type, which callers skip.
func Decode(t FrameType, payload []byte) (Message, error) {
	m := newMessage(t)
	if m == nil {
		return nil, nil
	}
	if len(payload) > MaxFrameSize {
		return nil, ErrFrameTooLarge
	}
	if len(payload) == 0 || payload[0] != '{' {
		return nil, fmt.Errorf("%w: %s", ErrBadPayload, t)
	}
	if err := json.Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrBadPayload, t, jsonProblem(err))
	}
	return m, nil
}

// jsonProblem describes a decoding error without quoting the payload: a
// field holding a secret (an API key sent as a number, say) must not reach
// an error message or a log.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type, jsonKind(te.Value))
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	default:
		return "malformed JSON"
	}
}

// jsonKind is the JSON type named by an UnmarshalTypeError's Value, which
// for numbers also carries the number itself.
func jsonKind(v string) string {
	if kind, _, found := strings.Cut(v, " "); found {
		return kind
	}
	return v
}

// Encode returns the complete frame (header and payload) for m.
func Encode(m Message) ([]byte, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("protocol: encoding %s: %w", m.FrameType(), err)
	}
	if len(payload) > MaxFrameSize {
		return nil, ErrFrameTooLarge
	}
	buf := make([]byte, HeaderSize+len(payload))
	buf[0] = byte(m.FrameType())
	binary.BigEndian.PutUint32(buf[1:HeaderSize], uint32(len(payload)))
	copy(buf[HeaderSize:], payload)
	return buf, nil
}

// WriteMessage writes m as one frame.
func WriteMessage(w io.Writer, m Message) error {
	buf, err := Encode(m)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// Reader reads frames from a stream, skipping unknown frame types.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 4096)}
}

// ReadMessage returns the next known message. It returns io.EOF when the
// stream ends cleanly between frames, io.ErrUnexpectedEOF inside a frame,
// ErrFrameTooLarge when the header announces more than MaxFrameSize (the
// payload is not read: the stream cannot be used afterwards), and an error
// wrapping ErrBadPayload for a malformed payload (the stream stays usable).
func (r *Reader) ReadMessage() (Message, error) {
	for {
		var hdr [HeaderSize]byte
		if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
			return nil, err
		}
		t := FrameType(hdr[0])
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > MaxFrameSize {
			return nil, ErrFrameTooLarge
		}
		if cap(r.buf) < int(n) {
			r.buf = make([]byte, n)
		}
		payload := r.buf[:n]
		if _, err := io.ReadFull(r.r, payload); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		m, err := Decode(t, payload)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue // unknown frame type: skip (PROTOCOL.md, "Extensibility")
		}
		return m, nil
	}
}

// HelloSigningInput returns the bytes an agent signs in Hello: a fixed
// context string followed by the connection's TLS exporter value.
func HelloSigningInput(exporter []byte) []byte {
	out := make([]byte, 0, len(helloContext)+len(exporter))
	out = append(out, helloContext...)
	return append(out, exporter...)
}

// Exporter returns the TLS exporter value of a connection for Hello.
func Exporter(cs tls.ConnectionState) ([]byte, error) {
	return cs.ExportKeyingMaterial(ExporterLabel, nil, ExporterLength)
}
