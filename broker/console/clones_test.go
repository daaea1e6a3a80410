package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestCloneMarkOnEndpointPage: an endpoint whose identity two copies used
// (SPEC R24) shows "Clone suspected" with its time and a button that
// clears the mark; after it, the page says no.
func TestCloneMarkOnEndpointPage(t *testing.T) {
	e := shared(t)
	key := e.newKey(t, map[string]any{"name": "clone key", "auto_trust": true})
	id := uuid.NewString()
	reg := url.Values{"client_id": {id}, "client_secret": {key.Value}, "client_type": {"printer"},
		"response_type": {"device_code"}, "hostname": {"cloned-device"}}
	resp, err := e.client().Post(e.base+"/oauth/v1/register", "application/x-www-form-urlencoded", strings.NewReader(reg.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	var code struct {
		DeviceCode string `json:"device_code"`
	}
	err = json.NewDecoder(resp.Body).Decode(&code)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	token := func(form url.Values) string {
		t.Helper()
		form.Set("client_id", id)
		form.Set("client_secret", key.Value)
		resp, err := e.client().Post(e.base+"/oauth/v1/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.RefreshToken == "" {
			t.Fatalf("token: %d %s", resp.StatusCode, b)
		}
		return tok.RefreshToken
	}
	refresh := func(rt string) string {
		return token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	first := token(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {code.DeviceCode}})
	a1, b1 := refresh(first), refresh(first) // two copies, one token
	refresh(a1)
	refresh(b1)

	c := e.client()
	signInHTTP(t, e.base, "admin", adminPassword, c)
	_, page := get(t, c, e.base+"/endpoints/"+id)
	if !strings.Contains(page, `id="clone-suspected"><strong>at `) || !strings.Contains(page, `action="/endpoints/`+id+`/clear-clone"`) {
		t.Fatalf("endpoint page without the clone mark and its button:\n%s", page)
	}
	resp, body := post(t, c, e.base+"/endpoints/"+id+"/clear-clone", url.Values{"csrf": {csrfOf(t, page)}}, e.base)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear-clone: %d\n%s", resp.StatusCode, body)
	}
	_, page = get(t, c, e.base+resp.Header.Get("Location"))
	if !strings.Contains(page, "clone mark") || !strings.Contains(page, `id="clone-suspected">no<`) || strings.Contains(page, `/clear-clone"`) {
		t.Errorf("after clearing, the page still shows the mark:\n%s", page)
	}
}
