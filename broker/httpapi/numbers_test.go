package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// Issue 15, point 10: every number, duration, time and address a client
// sends, when wrong, is answered 400 invalid_request with a message that
// names the field and says what it must be; never "must be a number, not
// number", and never the value of a field that may hold a secret.
func TestBadNumbersTimesAndAddresses(t *testing.T) {
	h := newHarness(t)
	keyID := h.createKeyID(t)
	acct := h.defaultAccount(t)
	tests := []struct {
		name, method, path, body string
		want                     string // in the description
	}{
		// Numbers in bodies.
		{"use_limit too large", "POST", "/api/v1/keys/" + keyID + "/values", `{"use_limit": 1e30}`, `field "use_limit" must be a whole number from -9223372036854775808 to 9223372036854775807`},
		{"use_limit fraction", "POST", "/api/v1/keys/" + keyID + "/values", `{"use_limit": 1.5}`, `field "use_limit" must be a whole number`},
		{"use_limit negative", "POST", "/api/v1/keys/" + keyID + "/values", `{"use_limit": -1}`, "use_limit must be 0 (unlimited) or more"},
		{"use_limit string", "POST", "/api/v1/keys/" + keyID + "/values", `{"use_limit": "5"}`, `field "use_limit" must be a number, not string`},
		{"key_quota too large", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"key_quota": 99999999999999999999}}`, `field "settings.key_quota" must be a whole number from`},
		{"key_quota fraction", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"key_quota": 2.5}}`, `field "settings.key_quota" must be a whole number`},
		{"key_quota negative", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"key_quota": -3}}`, "settings.key_quota must be between 0"},
		{"endpoint_quota exponent", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"endpoint_quota": 1e400}}`, `field "settings.endpoint_quota" must be a whole number`},
		// Durations (whole seconds).
		{"ttl negative", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"device_token_ttl_seconds": -60}}`, "settings.device_token_ttl_seconds must be between 0"},
		{"ttl fraction", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"user_token_ttl_seconds": 0.5}}`, `field "settings.user_token_ttl_seconds" must be a whole number`},
		{"ttl too large", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"refresh_ttl_seconds": 1e19}}`, `field "settings.refresh_ttl_seconds" must be a whole number from`},
		{"stale after beyond a century", "PATCH", "/api/v1/accounts/" + acct, `{"settings": {"stale_after_seconds": 9000000000}}`, "settings.stale_after_seconds must be between 0"},
		// Times in bodies.
		{"expires_at not a time", "POST", "/api/v1/keys/" + keyID + "/values", `{"expires_at": "tomorrow"}`, `field "expires_at" must be an RFC 3339 time like 2030-01-01T00:00:00Z`},
		{"expires_at number", "POST", "/api/v1/keys/" + keyID + "/values", `{"expires_at": 1700000000}`, `field "expires_at" must be an RFC 3339 time like 2030-01-01T00:00:00Z`},
		{"key expires_at", "PATCH", "/api/v1/keys/" + keyID, `{"expires_at": "2030-13-01T00:00:00Z"}`, `field "expires_at" must be an RFC 3339 time`},
		{"bulk registered_before", "POST", "/api/v1/endpoints/bulk", `{"action": "approve", "filter": {"registered_before": "yesterday"}}`, `field "filter.registered_before" must be an RFC 3339 time`},
		// Addresses and CIDRs.
		{"allowed_ips bad", "PATCH", "/api/v1/keys/" + keyID, `{"allowed_ips": ["10.0.0.0/33"]}`, `allowed_ips[0] "10.0.0.0/33" is not an IP address or CIDR prefix`},
		{"allowed_ips not a list", "PATCH", "/api/v1/keys/" + keyID, `{"allowed_ips": "10.0.0.0/8"}`, `field "allowed_ips" must be an array, not string`},
		{"allowed_ips zone", "POST", "/api/v1/keys", `{"name": "k", "allowed_ips": ["fe80::1%eth0"]}`, `allowed_ips[0] "fe80::1%eth0" is not an IP address or CIDR prefix`},
		{"bulk from", "POST", "/api/v1/endpoints/bulk", `{"action": "approve", "filter": {"from": "10.1.0.0/99"}}`, `filter.from "10.1.0.0/99" is not a CIDR prefix`},
		// Query parameters.
		{"list from", "GET", "/api/v1/endpoints?from=300.1.1.1", "", `from "300.1.1.1" is not a CIDR prefix`},
		{"list limit", "GET", "/api/v1/endpoints?limit=1e3", "", `limit "1e3" must be a number from 1 to 5000`},
		{"list seen_before", "GET", "/api/v1/endpoints?seen_before=now", "", `seen_before "now" is not an RFC 3339 time`},
		{"audit limit", "GET", "/api/v1/audit?limit=-5", "", "limit"},
		{"audit after_id", "GET", "/api/v1/audit?after_id=1.5", "", `after_id "1.5" is not an event id`},
		{"audit since", "GET", "/api/v1/audit?since=1700000000", "", `since "1700000000" is not an RFC 3339 time`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			status, b := h.admin(t, tc.method, tc.path, body)
			var er api.ErrorResponse
			if err := json.Unmarshal(b, &er); err != nil {
				t.Fatalf("status %d, body %s", status, b)
			}
			if status != http.StatusBadRequest || er.Error != api.CodeInvalidRequest || !strings.Contains(er.ErrorDescription, tc.want) {
				t.Errorf("got %d %s %q\nwant 400 invalid_request containing %q", status, er.Error, er.ErrorDescription, tc.want)
			}
			if strings.Contains(er.ErrorDescription, "not number") {
				t.Errorf("message %q says a number is not a number", er.ErrorDescription)
			}
		})
	}
}

// createKeyID creates a key in the default account and returns its id.
func (h *harness) createKeyID(t *testing.T) string {
	t.Helper()
	ck, err := h.c.CreateKey(t.Context(), api.CreateKeyRequest{Name: "numbers"})
	if err != nil {
		t.Fatal(err)
	}
	return ck.Key.ID
}
