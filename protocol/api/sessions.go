package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Session is a user's session (SPEC S6): a sign-in or device login and its
// refreshes. Ending it ends its refresh and access tokens at once.
type Session struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	AccountID   string    `json:"account_id"`
	EndpointID  string    `json:"endpoint_id"` // the device the login came through; "" for a sign-in
	StartedAt   time.Time `json:"started_at"`
	RefreshedAt time.Time `json:"refreshed_at"`
	ExpiresAt   time.Time `json:"expires_at"` // when it ends unless refreshed
	Current     bool      `json:"current"`    // the caller's own session
}

// SessionsEnded answers DELETE /api/v1/sessions.
type SessionsEnded struct {
	Ended int `json:"ended"`
}

// ListSessions lists a user's live sessions: the caller's own with userID
// "", another user's with ViewUser.
func (c *Client) ListSessions(ctx context.Context, userID string) ([]Session, error) {
	q := url.Values{}
	setNonEmpty(q, "user_id", userID)
	var out []Session
	if err := c.do(ctx, http.MethodGet, "/api/v1/sessions", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// EndSession ends one session: the caller's own, or another user's with
// ModifyUser.
func (c *Client) EndSession(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/sessions/"+url.PathEscape(id), nil, nil, nil, true)
}

// EndSessions ends every session of a user (the caller's own with userID
// "", this one included) and returns how many it ended.
func (c *Client) EndSessions(ctx context.Context, userID string) (int, error) {
	q := url.Values{}
	setNonEmpty(q, "user_id", userID)
	var out SessionsEnded
	if err := c.do(ctx, http.MethodDelete, "/api/v1/sessions", q, nil, &out, true); err != nil {
		return 0, err
	}
	return out.Ended, nil
}
