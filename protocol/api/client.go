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

// EndpointFilter selects endpoints in ListEndpoints; empty fields match
// anything. Text matches a substring of id, hostname or description. From
// is a CIDR prefix of the registering address. The Seen times select by
// last seen, the Registered times by registration (Before exclusive,
// After inclusive is the broker's choice; see the route's documentation).
type EndpointFilter struct {
	State            string
	AccountID        string
	Type             string
	KeyID            string
	Text             string
	From             string
	SeenBefore       time.Time
	SeenAfter        time.Time
	RegisteredBefore time.Time
	RegisteredAfter  time.Time
}

// SignIn signs an administrator in with a password (no API key: SPEC S3b).
func (c *Client) SignIn(ctx context.Context, req SignInRequest) (*TokenResponse, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/signin", nil, req, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// Refresh exchanges a user refresh token for a new pair; the old refresh
// token is spent.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*TokenResponse, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/signin/refresh", nil, RefreshRequest{RefreshToken: refreshToken}, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateKey creates an API key; the answer holds its value, shown only once.
func (c *Client) CreateKey(ctx context.Context, req CreateKeyRequest) (*CreatedKey, error) {
	var out CreatedKey
	if err := c.do(ctx, http.MethodPost, "/api/v1/keys", nil, req, &out, true); err != nil {
		return nil, err
	}
	if out.AllowedIPs == nil {
		out.AllowedIPs = []string{}
	}
	return &out, nil
}

// ListKeys lists the keys of an account ("" = the caller's own).
func (c *Client) ListKeys(ctx context.Context, accountID string) ([]Key, error) {
	q := url.Values{}
	setNonEmpty(q, "account_id", accountID)
	out := []Key{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/keys", q, nil, &out, true); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Key{}
	}
	for i := range out {
		if out[i].AllowedIPs == nil {
			out[i].AllowedIPs = []string{}
		}
	}
	return out, nil
}

// ListEndpoints lists the endpoints matching f that the caller may see.
func (c *Client) ListEndpoints(ctx context.Context, f EndpointFilter) ([]Endpoint, error) {
	q := url.Values{}
	setNonEmpty(q, "state", f.State)
	setNonEmpty(q, "account_id", f.AccountID)
	setNonEmpty(q, "type", f.Type)
	setNonEmpty(q, "key_id", f.KeyID)
	setNonEmpty(q, "text", f.Text)
	setNonEmpty(q, "from", f.From)
	setTime(q, "seen_before", f.SeenBefore)
	setTime(q, "seen_after", f.SeenAfter)
	setTime(q, "registered_before", f.RegisteredBefore)
	setTime(q, "registered_after", f.RegisteredAfter)
	out := []Endpoint{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/endpoints", q, nil, &out, true); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Endpoint{}
	}
	return out, nil
}

// GetEndpoint returns one endpoint.
func (c *Client) GetEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	var out Endpoint
	if err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+url.PathEscape(id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Decide applies an admin action (ActionApprove, ActionReject,
// ActionUntrust) to an endpoint and returns it after the change.
func (c *Client) Decide(ctx context.Context, id, action string) (*Endpoint, error) {
	switch action {
	case ActionApprove, ActionReject, ActionUntrust:
	default:
		return nil, fmt.Errorf("api: unknown action %q", action)
	}
	var out Endpoint
	if err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+url.PathEscape(id)+"/"+action, nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApproveEndpoint approves an endpoint; approving a trusted one is a no-op.
func (c *Client) ApproveEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	return c.Decide(ctx, id, ActionApprove)
}

// RejectEndpoint rejects a pending endpoint.
func (c *Client) RejectEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	return c.Decide(ctx, id, ActionReject)
}

// UntrustEndpoint untrusts a trusted endpoint.
func (c *Client) UntrustEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	return c.Decide(ctx, id, ActionUntrust)
}

// DeleteEndpoint deletes an endpoint in any state.
func (c *Client) DeleteEndpoint(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/endpoints/"+url.PathEscape(id), nil, nil, nil, true)
}

// ListAccounts lists the accounts the caller may see.
func (c *Client) ListAccounts(ctx context.Context) ([]Account, error) {
	out := []Account{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/accounts", nil, nil, &out, true); err != nil {
		return nil, err
	}
	if out == nil {
		out = []Account{}
	}
	return out, nil
}

// JWKS returns the broker's JSON Web Key Set as published.
func (c *Client) JWKS(ctx context.Context) ([]byte, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/.well-known/jwks.json", nil, nil, &raw, false); err != nil {
		return nil, err
	}
	return raw, nil
}

// Healthz checks that the broker answers; nil means it reported "ok".
func (c *Client) Healthz(ctx context.Context) error {
	var out HealthResponse
	if err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, &out, false); err != nil {
		return err
	}
	if out.Status != "ok" {
		return fmt.Errorf("api: broker reports status %q", out.Status)
	}
	return nil
}

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
