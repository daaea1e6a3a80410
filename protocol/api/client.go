// Package api holds the JSON types of the broker's HTTP API (/api/v1) and a
// typed client for it, used by edgetrustctl and by tests.
//
// The JSON field names are a contract: scripts and external tests read them.
// Fields may be added, never renamed or removed. Unknown fields are ignored
// when decoding, so an older client keeps working against a newer broker.
// Times are RFC 3339 strings; a time that is not set ("never", "not yet") is
// null. Lists are [] when empty, never null.
//
// The package depends only on the standard library.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxAnswer bounds how much of an answer the client reads.
const maxAnswer = 16 << 20

// Client calls the broker's HTTP API. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client

	mu     sync.Mutex
	token  string
	apiKey string
}

// New returns a client of the API at baseURL ("https://127.0.0.1:7443"). A
// nil httpClient means http.DefaultClient.
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: httpClient}
}

// SetToken sets the user access token sent as "Authorization: Bearer"; ""
// sends none.
func (c *Client) SetToken(tok string) {
	c.mu.Lock()
	c.token = tok
	c.mu.Unlock()
}

// SetAPIKey sets an API key value sent as "X-API-Key"; "" sends none. With
// a token set too, both are sent: the key admits the call and the token's
// user makes it (SPEC S5). Alone, the key must allow unauthenticated
// requests, and for admin routes have full API access (K1).
func (c *Client) SetAPIKey(value string) {
	c.mu.Lock()
	c.apiKey = value
	c.mu.Unlock()
}

// BaseURL returns the URL the client calls.
func (c *Client) BaseURL() string { return c.base }

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setTime(q url.Values, k string, t time.Time) {
	if !t.IsZero() {
		q.Set(k, t.UTC().Format(time.RFC3339Nano))
	}
}

// getList GETs a JSON array from path; the answer null is an empty list,
// never nil.
func getList[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	out := []T{}
	if err := c.do(ctx, http.MethodGet, path, q, nil, &out, true); err != nil {
		return nil, err
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// do sends one request. in (if not nil) is sent as JSON; a 2xx answer is
// decoded into out (if not nil); any other answer is returned as *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any, auth bool) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		c.setAuth(req)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("api: reading answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: decoding answer of %s %s: %w", method, path, err)
	}
	return nil
}

// setAuth sets the credentials of req: the token and the key, if set.
func (c *Client) setAuth(req *http.Request) {
	c.mu.Lock()
	tok, key := c.token, c.apiKey
	c.mu.Unlock()
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
}

func decodeError(status int, data []byte) error {
	e := &Error{Status: status}
	var er ErrorResponse
	if json.Unmarshal(data, &er) == nil && er.Error != "" {
		e.Code, e.Description = er.Error, er.ErrorDescription
		return e
	}
	// Not our error body (a proxy, or a route this broker lacks).
	e.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
	if e.Code == "" {
		e.Code = "http_error"
	}
	return e
}

// IsStatus reports whether err is an *Error with the HTTP status code.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// Error codes of ErrorResponse.Error.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeUnauthorized         = "unauthorized"
	CodeInvalidClient        = "invalid_client"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeConflict             = "conflict"
	CodeRateLimited          = "rate_limited"
	CodeAccessDenied         = "access_denied"
	CodeAuthorizationPending = "authorization_pending"
	CodeExpiredToken         = "expired_token"
	CodeInvalidGrant         = "invalid_grant"
	CodeUnknownUser          = "unknown_user"
	CodeLoginRefused         = "login_refused"
	CodeQuotaExceeded        = "quota_exceeded"
	CodeRequestTooLarge      = "request_too_large"
	CodeUnsupportedMedia     = "unsupported_media_type"
	CodeInternal             = "internal_error"
	// CodeUnavailable: the broker cannot read fresh state now (HTTP 503);
	// try again shortly or another broker.
	CodeUnavailable = "unavailable"
)

// Error is an error answer of the API.
type Error struct {
	Status      int    // HTTP status
	Code        string // ErrorResponse.Error, e.g. "not_found"
	Description string // ErrorResponse.ErrorDescription, safe to show a user
}

func (e *Error) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("%s (%s, HTTP %d)", e.Description, e.Code, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}

// route returns the API path /api/v1/parts[0]/parts[1]..., each part
// path-escaped.
func route(parts ...string) string {
	s := "/api/v1"
	for _, x := range parts {
		s += "/" + url.PathEscape(x)
	}
	return s
}
