package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// invalidClientMessage is the one body of every API-key refusal (SPEC K8):
// the reason goes only to the log and the audit.
const invalidClientMessage = "invalid client credentials"

// status maps a registry Kind to the HTTP status and error code of /api.
// It is the only place where this mapping is made.
func status(k registry.Kind) (int, string) {
	switch k {
	case registry.KindInvalid:
		return http.StatusBadRequest, api.CodeInvalidRequest
	case registry.KindUnauthenticated:
		return http.StatusUnauthorized, api.CodeUnauthorized
	case registry.KindInvalidClient:
		return http.StatusForbidden, api.CodeInvalidClient
	case registry.KindPermission:
		return http.StatusForbidden, api.CodeForbidden
	case registry.KindNotFound:
		return http.StatusNotFound, api.CodeNotFound
	case registry.KindConflict:
		return http.StatusConflict, api.CodeConflict
	case registry.KindRateLimited, registry.KindLimited:
		return http.StatusTooManyRequests, api.CodeRateLimited
	case registry.KindAccessDenied:
		return http.StatusForbidden, api.CodeAccessDenied
	case registry.KindPending:
		return http.StatusBadRequest, api.CodeAuthorizationPending
	case registry.KindExpired:
		return http.StatusBadRequest, api.CodeExpiredToken
	case registry.KindInvalidGrant:
		return http.StatusBadRequest, api.CodeInvalidGrant
	case registry.KindUnknownUser:
		return http.StatusNotFound, api.CodeUnknownUser
	case registry.KindLoginRefused:
		return http.StatusForbidden, api.CodeLoginRefused
	case registry.KindQuota:
		return http.StatusUnprocessableEntity, api.CodeQuotaExceeded
	case registry.KindUnavailable:
		return http.StatusServiceUnavailable, api.CodeUnavailable
	default:
		return http.StatusInternalServerError, api.CodeInternal
	}
}

// writeError answers err: the status and code of its Kind and its public
// message. The full error (which may hold a key refusal's reason) goes only
// to the log; nothing secret is logged (no headers, no bodies).
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	kind := registry.KindOf(err)
	code, name := status(kind)
	msg := registry.PublicMessage(err)
	if kind == registry.KindInvalidClient {
		msg = invalidClientMessage
	}
	fields := refusalFields(r, code, kind.String(), err)
	level := zapcore.InfoLevel
	switch {
	case code >= 500:
		level = zapcore.ErrorLevel
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusTooManyRequests:
		level = zapcore.WarnLevel
	}
	a.log.Log(level, "request refused", fields...)

	switch code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="edgetrust"`)
	case http.StatusTooManyRequests:
		setRetryAfter(w, err)
	}
	writeJSON(w, code, api.ErrorResponse{Error: name, ErrorDescription: msg})
}

// setRetryAfter sets the Retry-After header of a limited answer: the
// registry's hint (registry.RetryAfter), or 60 s when it gave none.
func setRetryAfter(w http.ResponseWriter, err error) {
	secs := int64(registry.RetryAfter(err) / time.Second)
	if secs <= 0 {
		secs = 60
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// refusalFields are the log fields of a refused request: what was asked,
// the answer, and the full error with a key refusal's reason (SPEC K8: the
// reason goes to the log, never to the caller).
func refusalFields(r *http.Request, code int, kind string, err error) []zap.Field {
	fields := []zap.Field{
		zap.String(logfield.Method, r.Method), zap.String(logfield.Path, r.URL.Path),
		zap.Int(logfield.Status, code), zap.String(logfield.Kind, kind),
		zap.String(logfield.Remote, remote(r).String()), zap.String(logfield.Error, err.Error()),
	}
	if reason := registry.RefusalReason(err); reason != "" {
		fields = append(fields, zap.String(logfield.KeyRefusal, reason))
	}
	return fields
}

func invalid(format string, args ...any) error {
	return registry.E(registry.KindInvalid, fmt.Sprintf(format, args...), nil)
}

// decode reads the JSON body of r into v. Unknown fields are ignored; a
// missing or malformed body, trailing data, a field of the wrong type or a
// body over the limit answer KindInvalid with a message naming the problem.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return invalid("the body must be JSON (Content-Type: application/json), not %q", ct)
		}
	}
	if r.Body == nil {
		return invalid("the request needs a JSON body")
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		if tooLarge(err) {
			return decodeError(err)
		}
		return invalid("the body must hold exactly one JSON object")
	}
	return nil
}

// decodeOptional is decode for routes whose body may be absent or empty:
// then v keeps its zero value.
func decodeOptional(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return decode(r, v)
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func decodeError(err error) error {
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case tooLarge(err):
		limit := int64(maxBody)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			limit = mbe.Limit
		}
		return registry.E(registry.KindInvalid, fmt.Sprintf("the request body is larger than %d KiB", limit>>10), err)
	case errors.Is(err, io.EOF):
		return invalid("the request needs a JSON body")
	case errors.As(err, &te):
		// te.Value of a number quotes it ("number 1234"), which may be a
		// password sent unquoted: name only the JSON type, and keep no cause.
		got, _, _ := strings.Cut(te.Value, " ")
		field := te.Field
		if field == "" {
			return invalid("the body must be a JSON object, not %s", got)
		}
		return invalid("field %q must be %s, not %s", field, jsonTypeName(te.Type.Kind().String()), got)
	case errors.As(err, &se):
		// No cause: its text quotes a character of the body, which may be
		// part of a password or token, and the cause is logged.
		return invalid("malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("malformed JSON: the body ends too early")
	default:
		// e.g. a time.Time that is not RFC 3339; the message names no secret.
		return registry.E(registry.KindInvalid, "malformed JSON: "+oneLine(err.Error()), err)
	}
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	default:
		return goKind
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
