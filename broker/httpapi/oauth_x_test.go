package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/edgetrust/edgetrust/broker/token"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// signingTransport is what a device adds to a stock OAuth client: it signs
// every request body with the device key (HCP-Request-Signature), and it
// reports each authorization_pending answer it sees on pending.
type signingTransport struct {
	base    http.RoundTripper
	sign    func([]byte) []byte
	pending chan struct{}
}

func (s *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set(api.SignatureHeader, base64.StdEncoding.EncodeToString(s.sign(body)))
	}
	resp, err := s.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if strings.Contains(string(b), `"authorization_pending"`) {
		select {
		case s.pending <- struct{}{}:
		default:
		}
	}
	return resp, nil
}

// TestOAuth2DeviceFlow drives the broker with golang.org/x/oauth2's device
// flow client (RFC 8628): DeviceAuth sends only client_id of its own, so
// the device adds client_secret, client_type, response_type and its key as
// extra parameters, and authenticates /token with HTTP Basic.
func TestOAuth2DeviceFlow(t *testing.T) {
	h := newOAuthHarness(t, false) // a real clock: the client polls on a real ticker
	for _, tc := range []struct {
		name   string
		key    api.CreateKeyRequest
		manual bool
	}{
		{"auto-trust key", api.CreateKeyRequest{AutoTrust: true}, false},
		{"manual key", api.CreateKeyRequest{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyValue := h.key(t, tc.key)
			d := newEd25519Device(t, true)
			tr := &signingTransport{base: h.srv.Client().Transport, sign: d.sign, pending: make(chan struct{}, 1)}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: tr})
			cfg := &oauth2.Config{
				ClientID: d.id, ClientSecret: keyValue,
				Endpoint: oauth2.Endpoint{
					DeviceAuthURL: h.srv.URL + api.PathOAuthRegister,
					TokenURL:      h.srv.URL + api.PathOAuthToken,
					AuthStyle:     oauth2.AuthStyleInHeader,
				},
			}
			da, err := cfg.DeviceAuth(ctx,
				oauth2.SetAuthURLParam("client_secret", keyValue),
				oauth2.SetAuthURLParam("client_type", protocol.ClientPrinter),
				oauth2.SetAuthURLParam("response_type", "device_code"),
				oauth2.SetAuthURLParam("public_key", d.pub),
				oauth2.SetAuthURLParam("key_type", d.keyType),
			)
			if err != nil {
				t.Fatalf("DeviceAuth: %v", err)
			}
			if da.Interval != 1 || da.Expiry.IsZero() {
				t.Errorf("device authorization %+v", da)
			}

			type result struct {
				tok *oauth2.Token
				err error
			}
			done := make(chan result, 1)
			go func() {
				tok, err := cfg.DeviceAccessToken(ctx, da)
				done <- result{tok, err}
			}()
			if tc.manual {
				select {
				case <-tr.pending:
				case r := <-done:
					t.Fatalf("DeviceAccessToken returned before approval: %+v %v", r.tok, r.err)
				case <-ctx.Done():
					t.Fatal("no authorization_pending answer")
				}
				if _, err := h.admin.ApproveEndpoint(ctx, d.id); err != nil {
					t.Fatal(err)
				}
			}
			var r result
			select {
			case r = <-done:
			case <-ctx.Done():
				t.Fatal("DeviceAccessToken did not return")
			}
			if r.err != nil {
				t.Fatalf("DeviceAccessToken: %v", r.err)
			}
			c, err := h.env.Issuer.Verify(r.tok.AccessToken)
			if err != nil || c.Subject != d.id || c.Type != token.TypeDevice || c.JKT != d.jkt {
				t.Fatalf("device token claims %+v %v", c, err)
			}
			if r.tok.RefreshToken == "" || r.tok.Expiry.IsZero() {
				t.Errorf("token %+v", r.tok)
			}

			// The stock client refreshes too (Basic auth, signed by the transport).
			stale := *r.tok
			stale.Expiry = time.Now().Add(-time.Minute)
			fresh, err := cfg.TokenSource(ctx, &stale).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if fresh.AccessToken == r.tok.AccessToken || fresh.RefreshToken == r.tok.RefreshToken {
				t.Error("refresh returned the same tokens")
			}
			// Once the chain moved on past it, a spent refresh token is
			// refused with the RFC's error code (before, it would be a lost
			// answer's retry: docs/clones.md).
			moved := *fresh
			moved.Expiry = time.Now().Add(-time.Minute)
			if _, err := cfg.TokenSource(ctx, &moved).Token(); err != nil {
				t.Fatalf("second refresh: %v", err)
			}
			_, err = cfg.TokenSource(ctx, &stale).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Errorf("reusing a refresh token: %v, want invalid_grant", err)
			}
		})
	}
}
