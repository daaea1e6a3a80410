package httpapi

import (
	"net/http"
	"time"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// signIn is an administrator's password sign-in (SPEC S3b): no API key.
func (a *API) signIn(w http.ResponseWriter, r *http.Request) {
	var req api.SignInRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	res, err := a.reg.SignIn(r.Context(), registry.SignInRequest{
		Username: req.Username, Password: req.Password, AccountID: req.AccountID, DeviceToken: req.DeviceToken, Remote: remote(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	u := res.User
	out := tokenResponse(res.Tokens)
	out.User = &api.User{ID: u.ID, Username: u.Username, AccountID: u.AccountID}
	out.DeviceToken = res.DeviceToken
	writeJSON(w, http.StatusOK, out)
}

// refresh rotates a user refresh token.
func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	var req api.RefreshRequest
	if err := decode(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		a.writeError(w, r, invalid("refresh_token is required"))
		return
	}
	tp, err := a.reg.RefreshUser(r.Context(), req.RefreshToken)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse(tp))
}

func tokenResponse(tp *registry.TokenPair) api.TokenResponse {
	return api.TokenResponse{
		AccessToken: tp.AccessToken, TokenType: tp.TokenType,
		ExpiresIn:        int64(tp.ExpiresIn / time.Second),
		RefreshToken:     tp.RefreshToken,
		RefreshExpiresIn: int64(tp.RefreshExpiresIn / time.Second),
	}
}
