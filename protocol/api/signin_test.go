package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestSignInSendsNoToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "" {
			t.Errorf("sign-in sent Authorization %q", got)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","refresh_expires_in":60,"user":{"id":"u","username":"admin","account_id":"acct"}}`))
	}))
	defer srv.Close()
	c := api.New(srv.URL, srv.Client())
	c.SetToken("old")
	got, err := c.SignIn(context.Background(), api.SignInRequest{Username: "admin", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	want := &api.TokenResponse{AccessToken: "a", TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: "r", RefreshExpiresIn: 60,
		User: &api.User{ID: "u", Username: "admin", AccountID: "acct"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SignIn (-want +got):\n%s", diff)
	}
}
