package httpapi

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap/zapcore"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// oauthError is a failure only the OAuth transport knows (an unsupported
// grant or response type, no such route): it has no registry Kind.
type oauthError struct {
	status int // 0 = 400
	code   string
	msg    string
}

func (e *oauthError) Error() string { return e.code + ": " + e.msg }

// oauthStatus maps an error to the HTTP status and OAuth error code of
// /oauth/v1 (RFC 6749 §5.2, RFC 8628 §3.5, RFC 7009, RFC 7662). It is the
// only place where this mapping is made.
func oauthStatus(err error) (int, string) {
	var oe *oauthError
	if errors.As(err, &oe) {
		if oe.status != 0 {
			return oe.status, oe.code
		}
		return http.StatusBadRequest, oe.code
	}
	switch registry.KindOf(err) {
	case registry.KindInvalid, registry.KindConflict, registry.KindNotFound, registry.KindQuota:
		return http.StatusBadRequest, api.CodeInvalidRequest
	case registry.KindInvalidClient:
		return http.StatusUnauthorized, api.CodeInvalidClient
	case registry.KindPending:
		return http.StatusBadRequest, api.CodeAuthorizationPending
	case registry.KindRateLimited:
		return http.StatusBadRequest, api.CodeSlowDown
	case registry.KindLimited:
		return http.StatusTooManyRequests, api.CodeSlowDown
	case registry.KindAccessDenied, registry.KindPermission, registry.KindLoginRefused:
		return http.StatusBadRequest, api.CodeAccessDenied
	case registry.KindExpired:
		return http.StatusBadRequest, api.CodeExpiredToken
	case registry.KindInvalidGrant, registry.KindUnauthenticated, registry.KindUnknownUser:
		return http.StatusBadRequest, api.CodeInvalidGrant
	case registry.KindUnavailable:
		return http.StatusServiceUnavailable, api.CodeTemporarilyUnavailable
	default:
		return http.StatusInternalServerError, api.CodeServerError
	}
}

// writeOAuthError answers err as {"error", "error_description"}. Every key
// refusal has the same body (SPEC K8); its reason goes only to the log (the
// registry has audited it). Polling answers are logged at debug level:
// they are the normal course of a device flow.
func (a *API) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	code, name := oauthStatus(err)
	msg := registry.PublicMessage(err)
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
		msg = oe.msg
	case code == http.StatusUnauthorized:
		msg = invalidClientMessage
	}
	fields := refusalFields(r, code, name, err)
	level := zapcore.InfoLevel
	switch {
	case code >= 500:
		level = zapcore.ErrorLevel
	case code == http.StatusUnauthorized || code == http.StatusTooManyRequests:
		level = zapcore.WarnLevel
	case name == api.CodeAuthorizationPending || name == api.CodeSlowDown:
		level = zapcore.DebugLevel
	}
	a.log.Log(level, "oauth request refused", fields...)
	switch code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="edgetrust"`)
	case http.StatusTooManyRequests:
		setRetryAfter(w, err)
	}
	writeJSON(w, code, api.ErrorResponse{Error: name, ErrorDescription: msg})
}

// formContentType is the one body type of /oauth/v1 requests.
const formContentType = "application/x-www-form-urlencoded"

// readForm reads the exact body of r (it is what HCP-Request-Signature
// signs) and parses it as a form. Query parameters are ignored: OAuth
// parameters travel in the body.
func readForm(r *http.Request) ([]byte, url.Values, error) {
	if r.Body == nil {
		return nil, nil, invalid("the request needs a form-encoded body")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if tooLarge(err) {
			return nil, nil, invalid("the request body is larger than %d KiB", maxBody>>10)
		}
		return nil, nil, registry.E(registry.KindInvalid, "the request body could not be read", err)
	}
	form, err := parseForm(r.Header.Get("Content-Type"), body)
	return body, form, err
}

// maxParamName bounds a parameter name quoted in an error message.
const maxParamName = 40

// parseForm parses an application/x-www-form-urlencoded body. A parameter
// given twice is refused (RFC 6749 §3.2); messages quote at most a
// parameter's name, never a value.
func parseForm(contentType string, body []byte) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != formContentType {
		return nil, invalid("the body must be form-encoded (Content-Type: %s)", formContentType)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		// No cause: its text quotes the bad escape, which may be part of a
		// client_secret, and the cause is logged.
		return nil, invalid("the form is malformed (a bad %%-escape, or a ';')")
	}
	for k, vs := range form {
		if len(vs) > 1 {
			if len(k) > maxParamName {
				k = k[:maxParamName]
			}
			return nil, invalid("parameter %q is given more than once", k)
		}
	}
	return form, nil
}

// required returns a form parameter that must be present and not empty.
func required(form url.Values, name string) (string, error) {
	v := form.Get(name)
	if v == "" {
		return "", invalid("%s is required", name)
	}
	return v, nil
}

// client is what a caller authenticates with at /oauth/v1: its client_id
// (an endpoint's UUID; "" for a relying service) and an API key value.
type client struct {
	id     string
	secret string
}

// clientAuth reads the caller's credentials: HTTP Basic (RFC 6749 §2.3.1,
// id and secret form-encoded), or client_id and client_secret in the form,
// or the key as "X-API-Key" or "Authorization: ApiKey" (SPEC K11). Only one
// way to send the key may be used; a client_id in the form must match the
// one of Basic. A missing key is no error here: the registry refuses it like
// every other bad key.
func clientAuth(h http.Header, form url.Values) (client, error) {
	c := client{id: form.Get("client_id")}
	var ways []string
	if s := form.Get("client_secret"); s != "" {
		c.secret = s
		ways = append(ways, "client_secret")
	}
	if s := h.Get("X-API-Key"); s != "" {
		c.secret = strings.TrimSpace(s)
		ways = append(ways, "X-API-Key")
	}
	if auth := h.Get("Authorization"); auth != "" {
		scheme, rest, _ := strings.Cut(auth, " ")
		switch {
		case strings.EqualFold(scheme, "Basic"):
			id, secret, err := parseBasic(strings.TrimSpace(rest))
			if err != nil {
				return client{}, err
			}
			if c.id != "" && c.id != id {
				return client{}, invalid("client_id differs from the one in the Authorization header")
			}
			c.id, c.secret = id, secret
			ways = append(ways, "HTTP Basic")
		case strings.EqualFold(scheme, "ApiKey"):
			c.secret = strings.TrimSpace(rest)
			ways = append(ways, "Authorization: ApiKey")
		default:
			return client{}, invalid("the Authorization header must be Basic or ApiKey")
		}
	}
	if len(ways) > 1 {
		return client{}, invalid("send the API key one way only, not as %s", strings.Join(ways, " and "))
	}
	return c, nil
}

// readClientForm is readForm, then clientAuth.
func readClientForm(r *http.Request) ([]byte, url.Values, client, error) {
	body, form, err := readForm(r)
	if err != nil {
		return nil, nil, client{}, err
	}
	c, err := clientAuth(r.Header, form)
	return body, form, c, err
}

// parseBasic decodes the credentials of an "Authorization: Basic" header.
// Both parts are form-encoded (RFC 6749 §2.3.1).
func parseBasic(b64 string) (id, secret string, err error) {
	bad := invalid("malformed Authorization: Basic header")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", "", bad
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", bad
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", bad
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", bad
	}
	return id, secret, nil
}

// maxSignatureHeader bounds the base64 text of HCP-Request-Signature.
const maxSignatureHeader = 4 * ((registry.MaxSignatureBytes + 2) / 3)

// requestSignature decodes the HCP-Request-Signature header: nil when
// absent; standard base64 (padding optional) of at most
// registry.MaxSignatureBytes bytes.
func requestSignature(h http.Header) ([]byte, error) {
	vs := h.Values(api.SignatureHeader)
	switch {
	case len(vs) == 0:
		return nil, nil
	case len(vs) > 1:
		return nil, invalid("%s is given more than once", api.SignatureHeader)
	}
	return decodeSignature(vs[0])
}

func decodeSignature(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > maxSignatureHeader {
		return nil, invalid("%s must be the standard base64 of a signature of at most %d bytes", api.SignatureHeader, registry.MaxSignatureBytes)
	}
	sig, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		sig, err = base64.RawStdEncoding.DecodeString(v)
	}
	if err != nil || len(sig) == 0 {
		return nil, invalid("%s is not standard base64", api.SignatureHeader)
	}
	if len(sig) > registry.MaxSignatureBytes {
		return nil, invalid("%s is longer than %d bytes", api.SignatureHeader, registry.MaxSignatureBytes)
	}
	return sig, nil
}

// decodeKeyParam decodes the public_key parameter: standard base64
// (padding optional). A client that put the base64 in the body without
// form-encoding it turned each '+' into a space; spaces are never base64,
// so they are read back as '+'.
func decodeKeyParam(v string) ([]byte, error) {
	v = strings.TrimSpace(strings.ReplaceAll(v, " ", "+"))
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(v)
	}
	if err != nil {
		return nil, invalid("public_key is not standard base64")
	}
	return b, nil
}
