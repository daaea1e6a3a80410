package httpapi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestRefresh(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := api.New(h.srv.URL, h.srv.Client())
	tr, err := c.Refresh(ctx, h.tokens.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.RefreshToken == h.tokens.RefreshToken || tr.ExpiresIn != 3600 || tr.TokenType != "Bearer" || tr.User != nil {
		t.Errorf("refreshed pair %+v: want new tokens, expires_in 3600, no user", tr)
	}
	c.SetToken(tr.AccessToken)
	if _, err := c.ListAccounts(ctx); err != nil {
		t.Errorf("ListAccounts with the refreshed token: %v", err)
	}
	if _, err := c.Refresh(ctx, h.tokens.RefreshToken); !isCode(err, api.CodeInvalidGrant) {
		t.Errorf("reusing a spent refresh token = %v, want invalid_grant", err)
	}
	// Reuse revoked the chain: the rotated token is dead too.
	if _, err := c.Refresh(ctx, tr.RefreshToken); !isCode(err, api.CodeInvalidGrant) {
		t.Errorf("refreshing after reuse = %v, want invalid_grant", err)
	}
}

func isCode(err error, code string) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == code
}

func TestSignInAnswer(t *testing.T) {
	h := newHarness(t)
	if h.tokens.User == nil || h.tokens.User.Username != "admin" || h.tokens.User.ID == "" || h.tokens.User.AccountID == "" {
		t.Errorf("sign-in user = %+v, want admin with ids", h.tokens.User)
	}
	if h.tokens.ExpiresIn != 3600 || h.tokens.RefreshExpiresIn != 90*24*3600 || h.tokens.TokenType != "Bearer" {
		t.Errorf("sign-in lifetimes %+v", h.tokens)
	}
}
