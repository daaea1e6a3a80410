package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The forms the browser tests do not press: edit a key, add and revoke a
// value, look at a customer account (its keys page marks the inherited
// ones) and add and remove an edge device there, end a session.
func TestKeyAndAccountActions(t *testing.T) {
	e := shared(t)
	key := e.newKey(t, nil)
	var acct struct {
		ID string `json:"id"`
	}
	e.api(t, "POST", "/api/v1/accounts", map[string]any{"name": "customer-" + time.Now().Format("150405.000"), "type": "customer"}, &acct)
	c := e.client()
	_, csrf := signInHTTP(t, e.base, "admin", adminPassword, c)
	send := func(path string, form url.Values, wantLoc string) string {
		t.Helper()
		form.Set("csrf", csrf)
		resp, body := post(t, c, e.base+path, form, e.base)
		if resp.StatusCode != http.StatusSeeOther || (wantLoc != "" && resp.Header.Get("Location") != wantLoc) {
			t.Fatalf("POST %s: %d to %q\n%s", path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
		_, page := get(t, c, e.base+resp.Header.Get("Location"))
		return page
	}
	keyPath := "/keys/" + key.ID

	page := send(keyPath, url.Values{"name": {"edited"}, "active": {"on"}, "auto_trust": {"on"}, "expires": {"2199-01-02"},
		"allowed_ips": {"10.0.0.0/8, 192.0.2.7"}}, keyPath)
	for _, want := range []string{"Key saved.", `value="edited"`, `value="2199-01-02"`, "10.0.0.0/8, 192.0.2.7/32"} {
		if !strings.Contains(page, want) {
			t.Errorf("after editing, the key page lacks %q", want)
		}
	}
	var k struct {
		Name       string   `json:"name"`
		AutoTrust  bool     `json:"auto_trust"`
		AllowedIPs []string `json:"allowed_ips"`
	}
	e.api(t, "GET", "/api/v1/keys/"+key.ID, nil, &k)
	if k.Name != "edited" || !k.AutoTrust || len(k.AllowedIPs) != 2 {
		t.Errorf("the API reads the edited key as %+v", k)
	}
	page = send(keyPath, url.Values{"expires": {"not a date"}, "name": {"x"}}, keyPath)
	if !strings.Contains(page, "give a date as YYYY-MM-DD") {
		t.Error("a bad expiry is not explained")
	}

	page = send(keyPath+"/values", url.Values{"description": {"second"}, "use_limit": {"5"}}, keyPath)
	value := regexp.MustCompile(`id="secret-value" class="mono" readonly value="(etk_[^"]+)"`).FindStringSubmatch(page)
	if value == nil || !strings.Contains(page, ">5<") {
		t.Fatalf("the added value is not shown once with its limit:\n%s", page)
	}
	valueID := regexp.MustCompile(`action="/keys/`+key.ID+`/values/([^/"]+)/revoke"`).FindAllStringSubmatch(page, -1)
	if len(valueID) != 2 {
		t.Fatalf("want revoke buttons for 2 values, found %d", len(valueID))
	}
	last := valueID[1][1]
	revoke := keyPath + "/values/" + last + "/revoke"
	resp, body := post(t, c, e.base+revoke, url.Values{"csrf": {csrf}}, e.base)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="confirm"`) {
		t.Fatalf("revoking without confirmation: %d, want the confirmation form", resp.StatusCode)
	}
	page = send(revoke, url.Values{"confirm": {"yes"}}, keyPath)
	if !strings.Contains(page, "Value revoked.") || !strings.Contains(page, "revoked 20") {
		t.Error("the revoked value is not shown as revoked")
	}

	// A customer account: its keys, the inherited ones, edge devices.
	send("/account", url.Values{"account": {acct.ID}, "back": {"/keys"}}, "/keys")
	_, page = get(t, c, e.base+"/keys")
	for _, want := range []string{"inherited", "predefined", `id="predefined-advice"`, "Add edge device", "edited"} {
		if !strings.Contains(page, want) {
			t.Errorf("the customer's keys page lacks %q", want)
		}
	}
	page = send("/edge-devices", url.Values{"account": {acct.ID}, "name": {"bridge-7"}}, "")
	if !strings.Contains(page, `id="secret-value"`) || !strings.Contains(page, "edge: bridge-7") {
		t.Fatal("the edge device's value is not shown once")
	}
	_, page = get(t, c, e.base+"/keys")
	rm := regexp.MustCompile(`action="(/edge-devices/[^"]+/remove)"`).FindStringSubmatch(page)
	if rm == nil {
		t.Fatal("the keys page lists no edge device")
	}
	page = send(rm[1], url.Values{"confirm": {"yes"}, "account": {acct.ID}}, "/keys")
	if !strings.Contains(page, "Edge device removed.") || strings.Contains(page, rm[1]) {
		t.Error("the edge device was not removed")
	}
	send("/account", url.Values{"account": {""}, "back": {"/sessions"}}, "/sessions")

	// Sessions: another of the admin's ends; the console's own stays.
	if st, b := e.call(nil, "POST", "/api/v1/signin", "", map[string]string{"username": "admin", "password": adminPassword}, nil); st != 200 {
		t.Fatalf("second sign-in: %d %s", st, b)
	}
	_, page = get(t, c, e.base+"/sessions")
	ends := regexp.MustCompile(`action="(/sessions/[^"]+/end)"`).FindAllStringSubmatch(page, -1)
	if len(ends) < 2 {
		t.Fatalf("want at least 2 sessions, found %d", len(ends))
	}
	page = send(ends[0][1], url.Values{}, "/sessions") // the newest: the API sign-in
	if !strings.Contains(page, "Session ended.") {
		t.Error("ending a session says nothing")
	}
	if resp, _ := get(t, c, e.base+"/queue"); resp.StatusCode != 200 {
		t.Errorf("the console's own session ended too: %d", resp.StatusCode)
	}
}
