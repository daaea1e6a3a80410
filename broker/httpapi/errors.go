package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"reflect"
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
// missing or malformed body, trailing data, a field of the wrong type or
// out of range, a time that is not RFC 3339, or a body over the limit
// answer KindInvalid with a message naming the field and what it must be.
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
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		if field, ok := badTimeField(body, v); ok {
			// No cause: the time parser's text quotes the value.
			return invalid("field %q must be an RFC 3339 time like 2030-01-01T00:00:00Z", field)
		}
		return decodeError(err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
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
		got, lit, _ := strings.Cut(te.Value, " ")
		field := te.Field
		if field == "" {
			return invalid("the body must be a JSON object, not %s", got)
		}
		if got == "number" && te.Type != nil {
			// A number where a number belongs: out of range, or a
			// fraction where a whole number belongs.
			return invalid("field %q %s", field, numberRule(te.Type, lit))
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

// numberRule says what a number field of type t must be, for a JSON
// number lit that did not fit it. It never quotes lit: it may be a secret
// sent in the wrong field.
func numberRule(t reflect.Type, lit string) string {
	f, _, err := big.ParseFloat(lit, 10, 64, big.ToNearestEven)
	whole := err == nil && f.IsInt()
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		lo, hi := new(big.Int).Lsh(big.NewInt(-1), uint(bits-1)), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), big.NewInt(1))
		if !whole {
			return fmt.Sprintf("must be a whole number (no fraction) from %s to %s", lo, hi)
		}
		return fmt.Sprintf("must be a whole number from %s to %s", lo, hi)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(t.Bits())), big.NewInt(1))
		return fmt.Sprintf("must be a whole number from 0 to %s", hi)
	}
	return "must be a number within the range of a 64-bit float"
}

// badTimeField finds the first field of v's type that is a time.Time (or a
// pointer to one) whose value in body is not an RFC 3339 string, and
// returns its dotted JSON name: encoding/json reports such an error
// without the field.
func badTimeField(body []byte, v any) (string, bool) {
	var raw any
	if json.Unmarshal(body, &raw) != nil {
		return "", false
	}
	return findBadTime(reflect.TypeOf(v), raw, "")
}

var timeType = reflect.TypeFor[time.Time]()

func findBadTime(t reflect.Type, raw any, path string) (string, bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || raw == nil {
		return "", false
	}
	if t == timeType {
		s, ok := raw.(string)
		if !ok {
			return path, true
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return path, true
		}
		return "", false
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return "", false
		}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" || !sf.IsExported() {
				continue
			}
			if name == "" && sf.Anonymous {
				// An embedded struct's fields are the object's own.
				if p, bad := findBadTime(sf.Type, raw, path); bad {
					return p, true
				}
				continue
			}
			if name == "" {
				name = sf.Name
			}
			val, ok := obj[name]
			if !ok {
				continue
			}
			sub := name
			if path != "" {
				sub = path + "." + name
			}
			if p, bad := findBadTime(sf.Type, val, sub); bad {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := raw.([]any)
		if !ok {
			return "", false
		}
		for i, el := range arr {
			if p, bad := findBadTime(t.Elem(), el, fmt.Sprintf("%s[%d]", path, i)); bad {
				return p, true
			}
		}
	}
	return "", false
}
