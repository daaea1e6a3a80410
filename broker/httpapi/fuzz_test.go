package httpapi

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// FuzzDecode: any request body decodes into a key request or yields a
// KindInvalid error with a message safe to show; never a panic or an
// internal error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name":"k","type":"general","auto_trust":true,"allowed_ips":["10.0.0.0/8"],"expires_at":"2030-01-01T00:00:00Z"}`,
		`{"name":1}`, `{"active":"yes"}`, `{"allowed_ips":"10.0.0.0/8"}`, `{} {}`, ``, `{`, `[1,2]`, `"x"`, `{"name":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/keys", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req api.CreateKeyRequest
		err := decode(r, &req)
		if err == nil {
			return
		}
		if registry.KindOf(err) != registry.KindInvalid {
			t.Fatalf("decode error of kind %v: %v", registry.KindOf(err), err)
		}
		if registry.PublicMessage(err) == "" {
			t.Fatal("empty public message")
		}
	})
}
